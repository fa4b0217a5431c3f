"""The official NABLA mask algorithm in PyTorch, timed on the benchmark inputs (not run by tests).

    python3 Benchmarks/Scripts/torch_baseline.py Q.npy K.npy --grid 21x40x80 --order raster \
        --block 1x8x8 --threshold 0.9 [--sta 11x3x3] [--repeat 3] [--check MASK.npy]

Written for nabla from NABLA.md and the paper's description of the reference code
(arXiv 2507.13546, Kandinsky 5's `nablaT_v2`): tokens in block order, mean-pooled
q and k per block, softmax(qa @ ka^T / sqrt(D)) over key blocks, a *full sort* of
every row, cumulative sums, keep `cumsum >= 1 - thr`, scatter back with the sort's
inverse permutation, OR the STA mask, then the FlexAttention rows (`kv_num_blocks`,
`kv_indices` from a descending argsort). Computed in float32 as the official code runs
(pass --float64 to compute like the NumPy reference). Prints wall times (median of
--repeat runs after one warm-up) and the process's peak resident memory.

With --check, the mask is compared with a mask.npy written by `nabla mask`.
"""
import argparse
import math
import resource
import time

import numpy as np
import torch


def block_perm(T, H, W, block):
    bt, bh, bw = block
    idx = torch.arange(T * H * W).reshape(T // bt, bt, H // bh, bh, W // bw, bw)
    return idx.permute(0, 2, 4, 1, 3, 5).reshape(-1)


def sta_mask(grid, window):
    Tb, Hb, Wb = grid
    wT, wH, wW = window
    t, i, j = torch.meshgrid(torch.arange(Tb), torch.arange(Hb), torch.arange(Wb), indexing="ij")
    t, i, j = t.reshape(-1), i.reshape(-1), j.reshape(-1)
    return (((t[:, None] - t[None, :]).abs() <= wT // 2)
            & ((i[:, None] - i[None, :]).abs() <= wH // 2)
            & ((j[:, None] - j[None, :]).abs() <= wW // 2))


def nabla_mask(q, k, block_tokens, thr, sta):
    """q, k: [heads, S, D] in block order. Returns (mask bool [h, N, N], kv_num, kv_idx)."""
    h, S, D = q.shape
    n = S // block_tokens
    qa = q.reshape(h, n, block_tokens, D).mean(-2)
    ka = k.reshape(h, n, block_tokens, D).mean(-2).transpose(-2, -1)
    p = torch.softmax((qa @ ka) / math.sqrt(D), dim=-1)
    vals, inds = p.sort(-1)
    cvals = vals.cumsum_(-1)
    mask = (cvals >= 1 - thr).int()
    mask[..., -1] = 1
    mask = mask.gather(-1, inds.argsort(-1))
    if sta is not None:
        mask = torch.logical_or(mask, sta)
    else:
        mask = mask.bool()
    kv_num = mask.sum(-1).to(torch.int32)
    kv_idx = mask.int().argsort(dim=-1, descending=True, stable=True).to(torch.int32)
    return mask, kv_num, kv_idx


def triple(text):
    return tuple(int(x) for x in text.lower().split("x"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("q")
    ap.add_argument("k")
    ap.add_argument("--grid", type=triple, required=True)
    ap.add_argument("--order", choices=["raster", "block"], default="raster")
    ap.add_argument("--block", type=triple, default=(1, 8, 8))
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--sta", type=triple)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--check")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    dtype = torch.float64 if args.float64 else torch.float32
    T, H, W = args.grid
    block_tokens = args.block[0] * args.block[1] * args.block[2]
    t0 = time.perf_counter()
    q = torch.from_numpy(np.load(args.q, mmap_mode="r").astype(np.float32)).to(dtype)
    k = torch.from_numpy(np.load(args.k, mmap_mode="r").astype(np.float32)).to(dtype)
    q = q.reshape(q.shape[0], T * H * W, q.shape[-1])
    k = k.reshape(k.shape[0], T * H * W, k.shape[-1])
    if args.order == "raster":
        perm = block_perm(T, H, W, args.block)
        q, k = q[:, perm], k[:, perm]
    load = time.perf_counter() - t0
    grid = (T // args.block[0], H // args.block[1], W // args.block[2])
    sta = sta_mask(grid, args.sta)[None] if args.sta else None
    times = []
    for i in range(args.repeat + 1):
        t0 = time.perf_counter()
        mask, kv_num, kv_idx = nabla_mask(q, k, block_tokens, args.threshold, sta)
        if i > 0:
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = mask.shape[-1]
    print(f"torch {torch.__version__} {dtype}, {torch.get_num_threads()} threads: heads {q.shape[0]}, N {n}, "
          f"thr {args.threshold}, STA {args.sta}")
    print(f"load+reorder {load * 1e3:.0f} ms; mask median {np.median(times) * 1e3:.0f} ms "
          f"(min {min(times) * 1e3:.0f}, {len(times)} runs); density {mask.float().mean().item():.4f}; "
          f"peak RSS {peak:.0f} MB")
    if args.check:
        ours = np.load(args.check).astype(bool)
        theirs = mask.numpy()
        rows = (ours != theirs).any(-1)
        print(f"check: {int(rows.sum())} of {rows.size} rows differ from {args.check}")


if __name__ == "__main__":
    main()
