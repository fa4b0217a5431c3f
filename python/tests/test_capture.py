"""nabla_capture on the four diffusers video transformers (small configs, random weights, CPU).

The test's own oracle: a TorchFunctionMode that records every
`scaled_dot_product_attention` call the model makes (diffusers' native backend and
CogVideoX's processor both end there, as [B, heads, S, D]), independent of the hooks and
patches nabla_capture installs.
"""

import os
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(__file__))
from models import MODELS  # noqa: E402

import nabla_capture  # noqa: E402
from nabla_capture import capture, capture_qkv, file_name, UnknownModelError  # noqa: E402


SDPA = torch.nn.functional.scaled_dot_product_attention  # the builtin, before any patch


class RecordSDPA(torch.overrides.TorchFunctionMode):
    """Records (q, k, v) of every scaled_dot_product_attention call with len(q) == len(k)."""

    def __init__(self, length):
        super().__init__()
        self.length = length
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is SDPA:
            q, k, v = args[:3]
            if q.shape[-2] == k.shape[-2] == self.length:
                self.calls.append(tuple(x.detach().clone() for x in (q, k, v)))
        return func(*args, **kwargs)


def run(name, directory, **options):
    model, inputs, grid, text = MODELS[name]()
    t, h, w = grid
    oracle = RecordSDPA(t * h * w + text)
    with torch.no_grad(), capture(model, directory, dtype=torch.float32, **options) as cap, oracle:
        model(**inputs)
    return cap, oracle.calls, grid, text


def read(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


EXPECTED_LAYERS = {"wan": 3, "hunyuanvideo": 4, "cogvideox": 2, "kandinsky5": 2}
TEXT_PLACE = {"wan": "start", "hunyuanvideo": "end", "cogvideox": "start", "kandinsky5": "start"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_captured_qkv_equal_what_attention_computed(name, tmp_path):
    cap, calls, grid, text = run(name, tmp_path)
    assert len(calls) == EXPECTED_LAYERS[name]
    assert sorted(os.listdir(tmp_path)) == [file_name(i, 0) for i in range(EXPECTED_LAYERS[name])]
    for layer, (q, k, v) in enumerate(calls):
        tensors, meta = read(tmp_path / file_name(layer, 0))
        for key, x in zip("qkv", (q, k, v)):
            assert tensors[key].shape == x[0].shape  # [heads, S, D]
            torch.testing.assert_close(tensors[key], x[0].float(), rtol=0, atol=0)
        assert meta["grid"] == "x".join(map(str, grid))
        assert meta["order"] == "raster"
        assert meta["text_tokens"] == str(text)
        assert meta["text_place"] == TEXT_PLACE[name]
        assert (meta["layer"], meta["step"], meta["model"]) == (str(layer), "0", name)
        assert meta["heads"] == "0,1"


def test_layers_steps_heads_and_batch_select(tmp_path):
    model, inputs, grid, _ = MODELS["wan"]()
    inputs = dict(inputs)
    inputs["hidden_states"] = torch.cat([inputs["hidden_states"], 2 * inputs["hidden_states"]])
    inputs["timestep"] = torch.tensor([500, 500])
    inputs["encoder_hidden_states"] = inputs["encoder_hidden_states"].repeat(2, 1, 1)
    t, h, w = grid
    oracle = RecordSDPA(t * h * w)
    with torch.no_grad(), capture(model, tmp_path, layers=[0, 2], steps=[1, 2], heads=[1], batch=1,
                                  dtype=torch.float32) as cap, oracle:
        for _ in range(3):  # steps 0, 1, 2
            model(**inputs)
    assert sorted(os.listdir(tmp_path)) == [file_name(0, 1), file_name(0, 2), file_name(2, 1), file_name(2, 2)]
    # calls: step-major, 3 layers per step
    tensors, meta = read(tmp_path / file_name(2, 1))
    q = oracle.calls[1 * 3 + 2][0]
    torch.testing.assert_close(tensors["q"], q[1, 1:2].float(), rtol=0, atol=0)
    assert meta["heads"] == "1"
    assert cap.calls == 3


def test_calls_per_step_keeps_the_first_call_of_each_step(tmp_path):
    model, inputs, grid, _ = MODELS["wan"]()
    t, h, w = grid
    oracle = RecordSDPA(t * h * w)
    with torch.no_grad(), capture(model, tmp_path, layers=[0], calls_per_step=2, dtype=torch.float32), oracle:
        for i in range(4):
            model(**{**inputs, "hidden_states": inputs["hidden_states"] * (i + 1)})
    assert sorted(os.listdir(tmp_path)) == [file_name(0, 0), file_name(0, 1)]
    tensors, _ = read(tmp_path / file_name(0, 1))
    torch.testing.assert_close(tensors["k"], oracle.calls[2 * 3][1][0].float(), rtol=0, atol=0)


def test_bf16_by_default_and_hooks_removed_after(tmp_path):
    model, inputs, _, _ = MODELS["wan"]()
    with torch.no_grad(), capture(model, tmp_path, layers=[1]):
        model(**inputs)
    tensors, _ = read(tmp_path / file_name(1, 0))
    assert tensors["q"].dtype == torch.bfloat16
    # Outside the context nothing is captured and nothing is patched.
    assert torch.nn.functional.scaled_dot_product_attention is SDPA
    with torch.no_grad():
        model(**inputs)
    assert os.listdir(tmp_path) == [file_name(1, 0)]


def test_unknown_model_is_refused_naming_capture_qkv(tmp_path):
    with pytest.raises(UnknownModelError, match="capture_qkv"):
        capture(torch.nn.Linear(2, 2), tmp_path)


def test_capture_qkv_writes_any_layout_with_text_tokens(tmp_path):
    torch.manual_seed(1)
    q = torch.randn(2, 4 + 2 * 3 * 4, 3, 8)  # [B, S, heads, D]: 4 text tokens first
    k = torch.randn_like(q)
    path = capture_qkv("layer00.step000", q, k, grid=(2, 3, 4), text_tokens=4, batch=1, directory=tmp_path)
    tensors, meta = read(path)
    assert tensors["q"].shape == (3, 28, 8) and "v" not in tensors
    torch.testing.assert_close(tensors["q"].float(), q[1].transpose(0, 1).bfloat16().float())
    assert meta["text_tokens"] == "4" and meta["grid"] == "2x3x4"
    with pytest.raises(ValueError, match="text tokens"):
        capture_qkv("bad", q, k, grid=(2, 3, 5), directory=tmp_path)
    with pytest.raises(ValueError, match="BSHD"):
        capture_qkv("bad", q[0], k[0], grid=(2, 3, 4), text_tokens=4, directory=tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["layer00.step000.safetensors"]  # nothing half-written


def test_capture_qkv_inside_a_generic_capture(tmp_path):
    q = torch.randn(1, 2, 24, 8)  # [B, heads, S, D]
    with capture(None, tmp_path):
        capture_qkv(file_name(4, 7)[:-12], q, q, grid=(2, 3, 4), layout="bhsd")
    tensors, _ = read(tmp_path / file_name(4, 7))
    assert tensors["k"].shape == (2, 24, 8)


def test_kandinsky_fractal_order_is_block_1x8x8():
    from nabla_capture._capture import _kandinsky_order
    assert _kandinsky_order(None, (), {"sparse_params": {"to_fractal": True}}) == ("block", (1, 8, 8))
    assert _kandinsky_order(None, (), {}) == ("raster", None)


# ---------------------------------------------------------------------------------------
# nabla reads the capture (needs the nabla binary: NABLA_BIN, or .build/*/nabla)

def nabla_binary():
    env = os.environ.get("NABLA_BIN")
    if env:
        return env
    root = os.path.join(os.path.dirname(__file__), "..", "..", ".build")
    for config in ("release", "debug"):
        path = os.path.join(root, config, "nabla")
        if os.path.exists(path):
            return path
    return None


def numpy_nabla(q, k, grid, thr, block=(1, 8, 8)):
    """NABLA's block mask (NABLA.md: mean-pool 64-token blocks of a raster grid, softmax of
    pooled logits / sqrt(D), per row the fewest largest blocks whose mass reaches thr)."""
    heads, s, d = q.shape
    t, h, w = grid
    bt, bh, bw = block

    def pool(x):
        x = x.reshape(heads, t // bt, bt, h // bh, bh, w // bw, bw, d)
        return x.mean(axis=(2, 4, 6), dtype=np.float64).reshape(heads, -1, d)

    pq, pk = pool(q.astype(np.float64)), pool(k.astype(np.float64))
    logits = pq @ pk.transpose(0, 2, 1) / np.sqrt(d)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    order = np.argsort(-p, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(p, order, -1)
    before = np.cumsum(sorted_p, -1) - sorted_p
    keep_sorted = before < thr
    mask = np.zeros_like(p, dtype=bool)
    np.put_along_axis(mask, order, keep_sorted, -1)
    return mask


@pytest.mark.skipif(nabla_binary() is None and not os.environ.get("CI"), reason="no nabla binary built")
def test_nabla_opens_the_capture_without_flags(tmp_path):
    import json
    import subprocess

    nabla = nabla_binary()
    assert nabla, "CI must build nabla before the Python tests (set NABLA_BIN)"
    model, inputs, _, _ = MODELS["wan"](frames=2, height=32, width=32)  # grid 2x16x16: 1x8x8 blocks divide it
    dump = tmp_path / "run"
    with torch.no_grad(), capture(model, dump, dtype=torch.float32):
        model(**inputs)
    info = subprocess.run([nabla, "info", str(dump)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    out = tmp_path / "masks"
    run = subprocess.run([nabla, "mask", str(dump), "--all", "--threshold", "0.5", "--out", str(out), "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    model_json = json.loads((out / "model.json").read_text())
    assert len(model_json["pairs"]) == 3
    for layer in range(3):
        tensors, _ = read(dump / file_name(layer, 0))
        expected = numpy_nabla(tensors["q"].numpy(), tensors["k"].numpy(), (2, 16, 16), 0.5)
        pair = f"layer{layer:02d}.step000"
        got = np.load(out / pair / "mask.npy")
        assert got.shape == expected.shape
        assert np.array_equal(got, expected), f"{pair}: {(got != expected).sum()} blocks differ"
