"""Writes the inputs of issue 8's benchmark rows (not run by tests).

    python3 Benchmarks/Scripts/make_inputs.py OUT_DIR [row ...]
        rows: n1050 n5040 f16 wan14b-720p kandinsky5-10s (default: the first three)

Q/K carry a smooth positional signal (sinusoids over t, y, x with per-head frequencies)
plus noise, so that pooled maps are peaked near the diagonal like a video model's and
masks are sparse, as with real dumps. Deterministic (seeded).

  n1050: q.npy, k.npy float32 [4, 67200, 128], raster over grid 21x40x80 (block 1x8x8 -> N 1050)
  n5040: q.npy, k.npy float32 [8, 80640, 64], block order of 1x4x4 over 21x48x80 (N 5040)
  f16:   q.npy, k.npy float16 [48, 21, 48, 80, 128] raster (about 2 GB together)

Full-size layers of issue 19, one safetensors file each, q/k/v in bfloat16 laid out
[1, S, heads, D] as Wan's and diffusers' attention hold them (heads interleaved), with
__metadata__ grid and order raster, written frame by frame (memory: one frame):
  wan14b-720p:    layer.safetensors, Wan2.1-14B at 720p: 40 heads, D 128, grid 21x48x80
                  (80,640 tokens; 826 MB per tensor, 2.5 GB in all)
  kandinsky5-10s: layer.safetensors, Kandinsky 5 Pro 10 s at 1024x1024: 32 heads, D 128,
                  grid 61x64x64 (249,856 tokens; 2 GB per tensor, 6 GB in all)
"""
import json
import os
import sys

import numpy as np


def signal(heads, grid, d, seed, dtype=np.float32):
    """[heads, T, H, W, D]: positional sinusoids plus noise, built head by head."""
    T, H, W = grid
    rng = np.random.default_rng(seed)
    t, y, x = np.meshgrid(np.arange(T), np.arange(H), np.arange(W), indexing="ij")
    out = np.empty((heads, T, H, W, d), dtype=dtype)
    for h in range(heads):
        freq = rng.uniform(0.05, 0.6, size=(3, d // 2)).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, size=d // 2).astype(np.float32)
        arg = (t[..., None] * freq[0] + y[..., None] * freq[1] + x[..., None] * freq[2] + phase)
        pos = np.concatenate([np.cos(arg), np.sin(arg)], axis=-1) * 3.0
        out[h] = (pos + rng.standard_normal(pos.shape, dtype=np.float32)).astype(dtype)
    return out


def block_order(T, H, W, block):
    bt, bh, bw = block
    idx = np.arange(T * H * W).reshape(T // bt, bt, H // bh, bh, W // bw, bw)
    return idx.transpose(0, 2, 4, 1, 3, 5).reshape(-1)


def bf16_bits(x):
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def layer_safetensors(path, heads, grid, d):
    """q, k, v bf16 [1, T*H*W, heads, d] (raster tokens): per-head positional sinusoids
    over t, y, x plus noise, as `signal`, so maps are peaked near the diagonal; v is noise
    plus a slow signal. Written frame by frame."""
    T, H, W = grid
    S = T * H * W
    shape = [1, S, heads, d]
    nbytes = S * heads * d * 2
    header = {"__metadata__": {"grid": f"{T}x{H}x{W}", "order": "raster"}}
    for i, name in enumerate("qkv"):
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [i * nbytes, (i + 1) * nbytes]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    y, x = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    y = y.reshape(-1, 1, 1).astype(np.float32)
    x = x.reshape(-1, 1, 1).astype(np.float32)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for seed, name in ((1, "q"), (2, "k"), (3, "v")):
            rng = np.random.default_rng(seed)
            freq = rng.uniform(0.05, 0.6, size=(3, heads, d // 2)).astype(np.float32)
            phase = rng.uniform(0, 2 * np.pi, size=(heads, d // 2)).astype(np.float32)
            for t in range(T):
                arg = t * freq[0] + y * freq[1] + x * freq[2] + phase  # [H*W, heads, d/2]
                pos = np.concatenate([np.cos(arg), np.sin(arg)], axis=-1) * 3.0
                pos += rng.standard_normal(pos.shape, dtype=np.float32)
                f.write(bf16_bits(pos).tobytes())
    print("wrote", path, "q k v bf16", shape)


ROWS = ["n1050", "n5040", "f16", "wan14b-720p", "kandinsky5-10s"]


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__.strip())
        sys.exit(0 if args and args[0] in ("-h", "--help") else 64)
    out = args[0]
    rows = args[1:] or ["n1050", "n5040", "f16"]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        sys.exit(f"make_inputs.py: unknown row {bad[0]!r}; rows: {' '.join(ROWS)}")
    for row in rows:
        d = os.path.join(out, row)
        os.makedirs(d, exist_ok=True)
        if row == "wan14b-720p":
            layer_safetensors(os.path.join(d, "layer.safetensors"), 40, (21, 48, 80), 128)
            continue
        if row == "kandinsky5-10s":
            layer_safetensors(os.path.join(d, "layer.safetensors"), 32, (61, 64, 64), 128)
            continue
        for name, seed in (("q", 1), ("k", 2)):
            if row == "n1050":
                x = signal(4, (21, 40, 80), 128, seed).reshape(4, -1, 128)
            elif row == "n5040":
                x = signal(8, (21, 48, 80), 64, seed).reshape(8, -1, 64)
                x = x[:, block_order(21, 48, 80, (1, 4, 4))]
            elif row == "f16":
                x = signal(48, (21, 48, 80), 128, seed, dtype=np.float16)
            else:
                raise SystemExit(f"unknown row {row}")
            np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(x))
            print("wrote", os.path.join(d, name + ".npy"), x.shape, x.dtype)


if __name__ == "__main__":
    main()
