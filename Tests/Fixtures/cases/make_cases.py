#!/usr/bin/env python3
"""Generates nabla's own mask cases (beside the shared golden ones in ../golden).

Each case folder holds case.json, the inputs and expected/{mask,kv_num_blocks,
kv_indices,frame_coverage,margin}.npy, in the same format as the golden cases, and
exercises what those do not: big-endian version 2.0 NPY, model layouts named with
--axes, a batch, safetensors float16 with the grid and order in __metadata__, float64
input, and the 1x16x16 and 4x4x4 blocks.

The expectations come from the small float64 NumPy statement of NABLA.md below.
When ../../../../shared/reference/nabla_ref.py exists it is also run on every case
and must agree exactly. Run from anywhere: python3 make_cases.py
"""
import json, os, struct, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# --- NABLA.md in float64 NumPy ------------------------------------------------------

def block_perm(grid, block):
    T, H, W = grid; bt, bh, bw = block
    idx = np.arange(T * H * W).reshape(T // bt, bt, H // bh, bh, W // bw, bw)
    return idx.transpose(0, 2, 4, 1, 3, 5).reshape(-1)


def nabla(q, k, grid, block, thr, sta):
    """q, k: [h, S, D] float64 in raster order."""
    h, S, D = q.shape
    perm = block_perm(grid, block)
    bs = block[0] * block[1] * block[2]
    n = S // bs
    qa = q[:, perm].reshape(h, n, bs, D).mean(axis=2)
    ka = k[:, perm].reshape(h, n, bs, D).mean(axis=2)
    logits = qa @ ka.transpose(0, 2, 1) / np.sqrt(D)
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    order = np.argsort(p, axis=-1, kind="stable")
    c = np.cumsum(np.take_along_axis(p, order, axis=-1), axis=-1)
    keep = c >= 1.0 - thr
    keep[..., -1] = True
    mask = np.zeros_like(keep)
    np.put_along_axis(mask, order, keep, axis=-1)
    margin = np.abs(c[..., :-1] - (1.0 - thr)).min(axis=-1, initial=np.inf)
    Tb, Hb, Wb = grid[0] // block[0], grid[1] // block[1], grid[2] // block[2]
    if sta is not None:
        t, i, j = np.meshgrid(np.arange(Tb), np.arange(Hb), np.arange(Wb), indexing="ij")
        t, i, j = t.ravel(), i.ravel(), j.ravel()
        win = ((abs(t[:, None] - t[None]) <= sta[0] // 2) & (abs(i[:, None] - i[None]) <= sta[1] // 2)
               & (abs(j[:, None] - j[None]) <= sta[2] // 2))
        mask = mask | win[None]
    num = mask.sum(-1).astype(np.int32)
    idx = np.argsort(~mask, axis=-1, kind="stable").astype(np.int32)
    cov = mask.reshape(h, Tb, Hb * Wb, Tb, Hb * Wb).mean(axis=(2, 4))
    return mask, num, idx, cov, margin, p


def structured(rng, heads, grid, d, sharp):
    """Q/K [h, T, H, W, D] float64: smooth in position plus noise, heads of different sharpness."""
    T, H, W = grid
    t, y, x = np.meshgrid(np.arange(T), np.arange(H), np.arange(W), indexing="ij")
    out = []
    for _ in range(2):
        per = []
        for hh in range(heads):
            f = rng.uniform(0.1, 1.0, size=d); ph = rng.uniform(0, 6.3, size=d)
            pos = np.stack([t, y / 4, x / 4], -1)[..., np.arange(d) % 3]
            per.append(sharp[hh] * np.sin(f * pos + ph) + 0.5 * rng.standard_normal((T, H, W, d)))
        out.append(np.stack(per))
    return out


def write_case(name, grid, heads, d, block, thr, sta, sharp, seed, store):
    rng = np.random.default_rng(seed)
    dirp = os.path.join(HERE, name)
    os.makedirs(os.path.join(dirp, "expected"), exist_ok=True)
    q5, k5 = structured(rng, heads, grid, d, sharp)
    # Round to the stored precision first, so the expectation is of what the file holds.
    q5, k5, inputs, order, extra = store(dirp, q5, k5)
    S = grid[0] * grid[1] * grid[2]
    q = q5.reshape(heads, S, d).astype(np.float64); k = k5.reshape(heads, S, d).astype(np.float64)
    mask, num, idx, cov, margin, p = nabla(q, k, grid, block, thr, sta)
    ref = os.path.join(HERE, "../../../../shared/reference")
    if os.path.exists(os.path.join(ref, "nabla_ref.py")):
        sys.path.insert(0, ref)
        import nabla_ref as R
        perm = R.block_order(*grid, block)
        m2, p2, mg2 = R.nabla_mask(q[:, perm], k[:, perm], R.block_grid(*grid, block), block, thr,
                                   None if sta is None else tuple(sta))
        assert (m2 == mask).all() and np.array_equal(p2, p), name
    e = os.path.join(dirp, "expected")
    np.save(os.path.join(e, "mask.npy"), mask.astype(np.uint8))
    np.save(os.path.join(e, "kv_num_blocks.npy"), num)
    np.save(os.path.join(e, "kv_indices.npy"), idx)
    np.save(os.path.join(e, "frame_coverage.npy"), cov)
    np.save(os.path.join(e, "margin.npy"), margin)
    case = dict(grid=list(grid), heads=heads, head_dim=d, block=list(block), threshold=thr,
                sta_window=None if sta is None else list(sta), order=order, inputs=inputs,
                extra_args=extra, density=float(mask.mean()),
                ambiguous_rows=int((margin < 1e-5).sum()))
    with open(os.path.join(dirp, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    print(name, "density", round(float(mask.mean()), 4), "ambiguous", case["ambiguous_rows"])


def save_npy(path, a, version=None):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)


def bigendian_v2(dirp, q, k):
    q = q.astype(">f4"); k = k.astype(">f4")
    save_npy(os.path.join(dirp, "q.npy"), q, (2, 0)); save_npy(os.path.join(dirp, "k.npy"), k, (2, 0))
    return q, k, {"q": "q.npy", "k": "k.npy"}, "raster", []


def model_shd(dirp, q, k):
    h, T, H, W, d = q.shape
    q = q.astype(np.float32); k = k.astype(np.float32)
    # [S, heads, D], as a linear layer's output is reshaped, in raster order
    for name, a in (("q", q), ("k", k)):
        np.save(os.path.join(dirp, name + ".npy"), np.ascontiguousarray(a.reshape(h, -1, d).transpose(1, 0, 2)))
    return q, k, {"q": "q.npy", "k": "k.npy"}, "raster", ["--axes", "s h d", "--grid", f"{T}x{H}x{W}", "--order", "raster"]


def batch_bshd(block):
    def store(dirp, q, k):
        h, T, H, W, d = q.shape
        q = q.astype(np.float32); k = k.astype(np.float32)
        perm = block_perm((T, H, W), block)
        for name, a in (("q", q), ("k", k)):
            b = a.reshape(h, -1, d)[:, perm].transpose(1, 0, 2)          # [S, h, D], block order
            other = np.random.default_rng(1).standard_normal(b.shape).astype(np.float32)
            np.save(os.path.join(dirp, name + ".npy"), np.stack([other, b]))  # batch item 1 is ours
        return q, k, {"q": "q.npy", "k": "k.npy"}, "block", ["--axes", "b s h d", "--batch", "1", "--grid", f"{T}x{H}x{W}", "--order", "block"]
    return store


def f16_safetensors_meta(block):
    def store(dirp, q, k):
        h, T, H, W, d = q.shape
        q = q.astype(np.float16); k = k.astype(np.float16)
        perm = block_perm((T, H, W), block)
        tensors = {n: a.reshape(h, -1, d)[:, perm][None] for n, a in (("q", q), ("k", k))}
        header = {}
        off = 0
        blobs = []
        for n, a in tensors.items():
            b = np.ascontiguousarray(a).astype("<f2").tobytes()
            header[n] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
            off += len(b); blobs.append(b)
        header["__metadata__"] = {"grid": f"{T}x{H}x{W}", "order": "block", "block": "x".join(map(str, block))}
        hb = json.dumps(header).encode()
        hb += b" " * ((8 - len(hb) % 8) % 8)
        with open(os.path.join(dirp, "qk.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(hb))); f.write(hb); [f.write(b) for b in blobs]
        return q, k, {"qk": "qk.safetensors", "q_key": "q", "k_key": "k", "metadata": "grid and order"}, "block", []
    return store


def f64_batch1(dirp, q, k):
    np.save(os.path.join(dirp, "q.npy"), q[None]); np.save(os.path.join(dirp, "k.npy"), k[None])
    return q, k, {"q": "q.npy", "k": "k.npy"}, "raster", []


def f32_raster(dirp, q, k):
    q = q.astype(np.float32); k = k.astype(np.float32)
    np.save(os.path.join(dirp, "q.npy"), q); np.save(os.path.join(dirp, "k.npy"), k)
    return q, k, {"q": "q.npy", "k": "k.npy"}, "raster", []


if __name__ == "__main__":
    write_case("bigendian-v2", (2, 16, 24), 2, 16, (1, 8, 8), 0.8, (3, 3, 3), [2, 4], 11, bigendian_v2)
    write_case("model-shd", (3, 8, 16), 3, 16, (1, 8, 8), 0.9, None, [1, 3, 6], 12, model_shd)
    write_case("batch-bshd", (2, 16, 16), 2, 16, (1, 4, 4), 0.7, None, [3, 5], 13, batch_bshd((1, 4, 4)))
    write_case("f16-safetensors-meta", (3, 16, 16), 2, 32, (1, 8, 8), 0.85, (1, 3, 3), [2, 5], 14,
               f16_safetensors_meta((1, 8, 8)))
    write_case("f64-cube-4x4x4", (8, 8, 8), 2, 16, (4, 4, 4), 0.85, (1, 1, 1), [2, 6], 15, f64_batch1)
    write_case("block-1x16x16", (2, 32, 32), 2, 16, (1, 16, 16), 0.95, None, [3, 8], 16, f32_raster)
