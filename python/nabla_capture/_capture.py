"""The capture context, the per-model hook points and the file writer."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = ["capture", "capture_qkv", "Capture", "UnknownModelError", "file_name"]


class UnknownModelError(TypeError):
    """The model is none of the transformers `capture` knows; use `capture_qkv`."""


def file_name(layer: int, step: int) -> str:
    """The file of one layer and step: ``layer03.step025.safetensors``.

    Natural order of these names is layer-major, then step, which is the order nabla's
    whole-model dump lists its pairs in.
    """
    if layer < 0 or step < 0:
        raise ValueError(f"layer {layer} and step {step} must be >= 0")
    return f"layer{layer:02d}.step{step:03d}.safetensors"


# ---------------------------------------------------------------------------------------
# Writing


def _grid_text(grid: Sequence[int]) -> str:
    if len(grid) != 3 or any(int(g) <= 0 for g in grid):
        raise ValueError(f"grid {tuple(grid)} must be three positive sizes (T, H, W) in tokens")
    return "x".join(str(int(g)) for g in grid)


def _to_hsd(x: torch.Tensor, layout: str, batch: int, what: str) -> torch.Tensor:
    """One batch item of ``x`` as ``[heads, S, D]``."""
    layout = layout.replace(" ", "").lower()
    if layout not in ("bshd", "bhsd", "hsd", "shd"):
        raise ValueError(f"layout '{layout}' is not one of bshd, bhsd, hsd, shd")
    if x.dim() != len(layout):
        raise ValueError(f"{what} has shape {list(x.shape)}, which is not {layout.upper()}")
    if layout.startswith("b"):
        if not 0 <= batch < x.shape[0]:
            raise ValueError(f"batch {batch} is outside {what}'s batch of {x.shape[0]}")
        x = x[batch]
        layout = layout[1:]
    if layout == "shd":
        x = x.transpose(0, 1)
    return x


def _atomic_save(tensors: dict, metadata: dict, path: str) -> None:
    from safetensors.torch import save_file

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nabla-capture-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_qkv(
    path: str,
    q: torch.Tensor,
    k: torch.Tensor,
    v: Optional[torch.Tensor] = None,
    *,
    grid: Sequence[int],
    order: str = "raster",
    block: Optional[Sequence[int]] = None,
    text_tokens: int = 0,
    text_place: str = "start",
    layout: str = "bshd",
    batch: int = 0,
    heads: Optional[Sequence[int]] = None,
    dtype: torch.dtype = torch.bfloat16,
    extra: Optional[dict] = None,
) -> str:
    """Writes one Q/K(/V) triple as ``[heads, S, D]`` with nabla's metadata, atomically.

    ``S`` must be ``T*H*W + text_tokens``. ``heads`` keeps only those head indices (the
    file's ``heads`` metadata keeps their original numbers).
    """
    if order not in ("raster", "block"):
        raise ValueError(f"order '{order}' must be 'raster' or 'block'")
    if order == "block" and block is None:
        raise ValueError("order 'block' needs block=(bt, bh, bw)")
    if text_place not in ("start", "end"):
        raise ValueError(f"text_place '{text_place}' must be 'start' or 'end'")
    grid_text = _grid_text(grid)
    t, h, w = (int(g) for g in grid)
    tensors = {}
    n_heads = None
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x is None:
            continue
        y = _to_hsd(x.detach(), layout, batch, name)
        if n_heads is None:
            n_heads = y.shape[0]
            all_heads = list(range(n_heads))
            chosen = all_heads if heads is None else [int(i) for i in heads]
            bad = [i for i in chosen if not 0 <= i < n_heads]
            if bad:
                raise ValueError(f"heads {bad} are outside 0-{n_heads - 1}")
        if y.shape[1] != t * h * w + int(text_tokens):
            raise ValueError(
                f"{name} has {y.shape[1]} tokens; grid {grid_text} ({t * h * w} tokens) "
                f"plus {text_tokens} text tokens would be {t * h * w + int(text_tokens)}"
            )
        if heads is not None:
            y = y[chosen]
        tensors[name] = y.to(device="cpu", dtype=dtype).contiguous()
    metadata = {
        "grid": grid_text,
        "order": order,
        "layout": "[heads, S, D]",
        "heads": ",".join(str(i) for i in chosen),
        "text_tokens": str(int(text_tokens)),
        "text_place": text_place,
        "writer": "nabla_capture 0.1.0",
    }
    if order == "block":
        metadata["block"] = _grid_text(block)
    for key, value in (extra or {}).items():
        metadata[str(key)] = str(value)
    _atomic_save(tensors, metadata, path)
    return path


# ---------------------------------------------------------------------------------------
# Models


@dataclass
class _Site:
    """A self-attention module and the layer number its captures carry."""

    module: torch.nn.Module
    layer: int


@dataclass
class _Adapter:
    """How one model family is captured."""

    name: str
    sites: Callable[[torch.nn.Module], list]
    # From the transformer's forward arguments: the token grid (T, H, W).
    grid: Callable[[torch.nn.Module, tuple, dict], tuple]
    # From the transformer's forward arguments: (order, block).
    order: Callable[[torch.nn.Module, tuple, dict], tuple] = lambda m, a, kw: ("raster", None)
    # Where joint text tokens sit in the attention's sequence ("start"/"end"), or None.
    text_place: Optional[str] = None


def _arg(args: tuple, kwargs: dict, index: int, name: str):
    if name in kwargs:
        return kwargs[name]
    if len(args) > index:
        return args[index]
    raise ValueError(f"the transformer's forward call has no '{name}'")


def _wan_grid(model, args, kwargs):
    x = _arg(args, kwargs, 0, "hidden_states")  # [B, C, F, H, W]
    pt, ph, pw = model.config.patch_size
    return (x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw)


def _hunyuan_grid(model, args, kwargs):
    x = _arg(args, kwargs, 0, "hidden_states")  # [B, C, F, H, W]
    p, pt = model.config.patch_size, model.config.patch_size_t
    return (x.shape[2] // pt, x.shape[3] // p, x.shape[4] // p)


def _cogvideox_grid(model, args, kwargs):
    x = _arg(args, kwargs, 0, "hidden_states")  # [B, F, C, H, W]
    p, pt = model.config.patch_size, model.config.patch_size_t or 1
    return ((x.shape[1] + pt - 1) // pt if pt > 1 else x.shape[1], x.shape[3] // p, x.shape[4] // p)


def _kandinsky_grid(model, args, kwargs):
    x = _arg(args, kwargs, 0, "hidden_states")  # [B, F, H, W, C]
    pt, ph, pw = model.visual_embeddings.patch_size
    return (x.shape[1] // pt, x.shape[2] // ph, x.shape[3] // pw)


def _kandinsky_order(model, args, kwargs):
    sparse = kwargs.get("sparse_params")
    if sparse is not None and sparse.get("to_fractal"):
        # fractal_flatten groups tokens into 1x8x8 tiles (transformer_kandinsky.py).
        return ("block", (1, 8, 8))
    return ("raster", None)


def _hunyuan_sites(model):
    double = [_Site(b.attn, i) for i, b in enumerate(model.transformer_blocks)]
    single = [_Site(b.attn, len(double) + i) for i, b in enumerate(model.single_transformer_blocks)]
    return double + single


_ADAPTERS = {
    "WanTransformer3DModel": _Adapter(
        "wan", lambda m: [_Site(b.attn1, i) for i, b in enumerate(m.blocks)], _wan_grid),
    "HunyuanVideoTransformer3DModel": _Adapter(
        "hunyuanvideo", _hunyuan_sites, _hunyuan_grid, text_place="end"),
    "CogVideoXTransformer3DModel": _Adapter(
        "cogvideox", lambda m: [_Site(b.attn1, i) for i, b in enumerate(m.transformer_blocks)],
        _cogvideox_grid, text_place="start"),
    "Kandinsky5Transformer3DModel": _Adapter(
        "kandinsky5", lambda m: [_Site(b.self_attention, i) for i, b in enumerate(m.visual_transformer_blocks)],
        _kandinsky_grid, _kandinsky_order),
}

# diffusers modules whose attention goes through a module-level `dispatch_attention_fn`
# (query, key, value as [B, S, heads, D]); CogVideoX calls F.scaled_dot_product_attention
# ([B, heads, S, D]) from attention_processor.py.
_DISPATCH_MODULES = [
    "diffusers.models.transformers.transformer_wan",
    "diffusers.models.transformers.transformer_hunyuan_video",
    "diffusers.models.transformers.transformer_kandinsky",
]


# ---------------------------------------------------------------------------------------
# The capture context

_ACTIVE: list = []


def _selected(wanted: Optional[Iterable[int]], index: int) -> bool:
    return wanted is None or index in wanted


class Capture:
    """A capture in progress: see :func:`capture`. ``files`` lists what was written."""

    def __init__(self, model, directory, layers=None, steps=None, heads=None, batch=0,
                 dtype=torch.bfloat16, calls_per_step=1, save_v=True):
        self.model = model
        self.directory = os.fspath(directory)
        self.layers = None if layers is None else set(int(i) for i in layers)
        self.steps = None if steps is None else set(int(i) for i in steps)
        self.heads = None if heads is None else [int(i) for i in heads]
        self.batch = int(batch)
        self.dtype = dtype
        if int(calls_per_step) < 1:
            raise ValueError(f"calls_per_step {calls_per_step} must be >= 1")
        self.calls_per_step = int(calls_per_step)
        self.save_v = save_v
        self.files: list = []
        self.calls = 0
        self._adapter: Optional[_Adapter] = None
        self._grid = None
        self._order = ("raster", None)
        self._pending: Optional[int] = None
        self._handles: list = []
        self._patches: list = []
        if model is not None:
            kind = type(model).__name__
            self._adapter = _ADAPTERS.get(kind)
            if self._adapter is None:
                known = ", ".join(sorted(_ADAPTERS))
                raise UnknownModelError(
                    f"nabla_capture does not know {kind} (it knows {known}); "
                    "call nabla_capture.capture_qkv(name, q, k, v, grid=..., order=...) from its attention")

    # -- the step and layer currently running -------------------------------------------
    @property
    def step(self) -> int:
        return (self.calls - 1) // self.calls_per_step

    def _taking_this_call(self) -> bool:
        return (self.calls - 1) % self.calls_per_step == 0 and _selected(self.steps, self.step)

    def _before_model(self, module, args, kwargs):
        self.calls += 1
        self._grid = self._adapter.grid(module, args, kwargs)
        self._order = self._adapter.order(module, args, kwargs)

    def _before_layer(self, layer):
        def hook(module, args, kwargs):
            if self._taking_this_call() and _selected(self.layers, layer):
                self._pending = layer
        return hook

    def _after_layer(self, module, args, kwargs, output):
        self._pending = None

    # -- what the attention receives ------------------------------------------------------
    def _offer(self, q, k, v, layout):
        """Called with every attention call while active; keeps the first self-attention
        call of a selected layer (a call whose keys are as many as its queries)."""
        if self._pending is None:
            return
        s_axis = 1 if layout == "bshd" else 2
        if q.shape[s_axis] != k.shape[s_axis]:
            return  # cross-attention (Wan I2V's image keys): wait for the self-attention call
        layer, self._pending = self._pending, None
        t, h, w = self._grid
        text = q.shape[s_axis] - t * h * w
        if text < 0 or (text > 0 and self._adapter.text_place is None):
            raise RuntimeError(
                f"{self._adapter.name} layer {layer}: attention has {q.shape[s_axis]} tokens, "
                f"the grid {t}x{h}x{w} has {t * h * w}")
        order, block = self._order
        path = os.path.join(self.directory, file_name(layer, self.step))
        write_qkv(path, q, k, v if self.save_v else None, grid=self._grid, order=order, block=block,
                  text_tokens=text, text_place=self._adapter.text_place or "start", layout=layout,
                  batch=self.batch, heads=self.heads, dtype=self.dtype,
                  extra={"layer": layer, "step": self.step, "model": self._adapter.name,
                         "model_class": type(self.model).__name__})
        self.files.append(path)

    # -- install and remove ----------------------------------------------------------------
    def __enter__(self):
        os.makedirs(self.directory, exist_ok=True)
        _ACTIVE.append(self)
        if self._adapter is not None:
            m = self.model
            self._handles.append(m.register_forward_pre_hook(self._before_model, with_kwargs=True))
            for site in self._adapter.sites(m):
                self._handles.append(site.module.register_forward_pre_hook(self._before_layer(site.layer), with_kwargs=True))
                self._handles.append(site.module.register_forward_hook(self._after_layer, with_kwargs=True))
            self._install_patches()
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches.clear()
        _ACTIVE.remove(self)
        return False

    def _patch(self, owner, name, wrapper_for):
        original = getattr(owner, name)
        self._patches.append((owner, name, original))
        setattr(owner, name, wrapper_for(original))

    def _install_patches(self):
        cap = self

        def dispatch_wrapper(original):
            def wrapped(query, key, value, *args, **kwargs):
                cap._offer(query, key, value, "bshd")
                return original(query, key, value, *args, **kwargs)
            return wrapped

        def sdpa_wrapper(original):
            def wrapped(query, key, value, *args, **kwargs):
                if query.dim() == 4:
                    cap._offer(query, key, value, "bhsd")
                return original(query, key, value, *args, **kwargs)
            return wrapped

        for name in _DISPATCH_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if hasattr(module, "dispatch_attention_fn"):
                self._patch(module, "dispatch_attention_fn", dispatch_wrapper)
        self._patch(F, "scaled_dot_product_attention", sdpa_wrapper)


def capture(model, directory, layers=None, steps=None, heads=None, *, batch=0,
            dtype=torch.bfloat16, calls_per_step=1, save_v=True) -> Capture:
    """Captures Q, K (and V) of ``model``'s self-attention while the block runs.

    - ``model``: a diffusers ``WanTransformer3DModel``, ``Kandinsky5Transformer3DModel``,
      ``HunyuanVideoTransformer3DModel`` or ``CogVideoXTransformer3DModel`` (the
      transformer, not the pipeline); ``None`` for :func:`capture_qkv` calls only.
    - ``layers``, ``steps``: indices to keep (``None``: all). Layers are numbered in the
      order the model runs its self-attention (HunyuanVideo: the dual-stream blocks, then
      the single-stream ones). Each forward call of the transformer is one step; a
      pipeline that runs the conditional and unconditional passes as two calls per
      denoising step takes ``calls_per_step=2`` (the first call of each step is kept).
    - ``heads``: head indices to keep (``None``: all); files record the original indices.
    - ``batch``: the batch item kept (classifier-free guidance batches hold two).
    - ``dtype``: what the files hold (bf16 by default).

    Files: ``DIR/layerLL.stepSSS.safetensors``, each written atomically when its layer
    has run, so at most one layer's Q/K/V is held on the host at a time.

    Raises :class:`UnknownModelError` for a model it does not know.
    """
    return Capture(model, directory, layers=layers, steps=steps, heads=heads, batch=batch,
                   dtype=dtype, calls_per_step=calls_per_step, save_v=save_v)


def capture_qkv(name, q, k, v=None, *, grid, order="raster", block=None, text_tokens=0,
                text_place="start", layout="bshd", batch=0, heads=None, directory=None,
                dtype=torch.bfloat16, metadata=None) -> str:
    """Writes one Q/K(/V) of any model: ``DIR/NAME.safetensors`` as ``[heads, S, D]``.

    Call it from the model's attention where Q and K are final (after the QK norm and
    the rotary embedding). ``DIR`` is ``directory`` or that of the innermost active
    :func:`capture` (``capture(None, DIR)`` for a model it does not know). ``layout`` names
    the tensors' axes: ``bshd`` (diffusers' ``[B, S, heads, D]``), ``bhsd``, ``hsd`` or
    ``shd``. ``grid`` is (T, H, W) in tokens; ``S`` must be ``T*H*W + text_tokens``.
    Name files ``layerLL.stepSSS`` (see :func:`file_name`) to make a layers x steps dump.
    """
    if directory is None:
        if not _ACTIVE:
            raise RuntimeError("capture_qkv needs directory= or an active capture(...) context")
        directory = _ACTIVE[-1].directory
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(name)) or str(name).startswith("."):
        raise ValueError(f"name '{name}' must be letters, digits, '_', '-', '.' and not start with '.'")
    path = os.path.join(os.fspath(directory), f"{name}.safetensors")
    return write_qkv(path, q, k, v, grid=grid, order=order, block=block, text_tokens=text_tokens,
                     text_place=text_place, layout=layout, batch=batch, heads=heads, dtype=dtype,
                     extra=metadata)
