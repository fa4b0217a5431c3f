"""Capture Q, K and V from the self-attention of a running video DiT, for nabla.

Each captured layer and step becomes one safetensors file, ``layerLL.stepSSS.safetensors``,
holding ``q``, ``k`` and ``v`` as ``[heads, S, D]`` (one batch item) with everything nabla
needs to read them in ``__metadata__``: the token grid (``grid`` = ``TxHxW``), the token
order (``raster``, or ``block`` with ``block`` = ``1x8x8`` for Kandinsky 5's fractal
order), the joint text tokens (``text_tokens``, ``text_place``), and ``layer``, ``step``,
``model``, ``heads``. ``nabla view DIR`` opens the folder as a whole-model dump
(layers x steps).

Example::

    from nabla_capture import capture
    with capture(transformer, "dumps/run1", layers=[0, 10, 20], steps=[0, 25, 49]):
        pipe(prompt, ...)        # or transformer(...) directly; each forward call is one step

Q and K are taken where the model's attention receives them: after the QK norm and the
rotary embedding, in the model's own token order. Known models (diffusers):
``WanTransformer3DModel``, ``Kandinsky5Transformer3DModel``,
``HunyuanVideoTransformer3DModel`` and ``CogVideoXTransformer3DModel``. For any other
model, call :func:`capture_qkv` from its attention code.
"""

from ._capture import capture, capture_qkv, Capture, UnknownModelError, file_name

__all__ = ["capture", "capture_qkv", "Capture", "UnknownModelError", "file_name"]
__version__ = "0.1.0"
