#!/usr/bin/env python3
"""nabla's attention kernels beside PyTorch's on the same shapes and mask (not run by tests).

The issue's shape: grid 8x32x32 (8192 tokens), 4 heads, head dim 64, blocks 1x8x8, a
NABLA+STA mask of about 28% density. Q/K/V are made here (seeded NumPy: smooth functions
of the token position plus noise, so the NABLA map has structure), the mask by
`nabla mask` (the threshold is chosen to land near the target density), then:

  - torch.compile(flex_attention) with BlockMask.from_kv_blocks on the mask (tokens in
    block order, as NABLA's kernels use them), against `nabla attend --mask` (sparse);
  - F.scaled_dot_product_attention (dense), against `nabla attend --dense`.

Both sides are timed in this run, as medians of --repeat runs of the kernel alone, with
the same number of threads (torch.set_num_threads = the cores nabla uses).

    swift build -c release
    python3 Benchmarks/Scripts/torch_attention.py --nabla .build/release/nabla [--nabla OTHER ...]

With several --nabla binaries (before and after a change), each is timed on the same
inputs and mask (the mask is computed by the first). For each, `nabla bench --cpu` names
its kernel level (when it has the flag) and `nabla bench` on the same inputs measures its
FP32 FMA peak, so dense attention is also given as a share of that peak.

With --rounds R (default 3) everything is measured R times, interleaved: each round times
flex_attention and SDPA, then every binary's sparse and dense attention and its peak, so
every ratio is taken between figures of the same minute; the summary gives each figure's
range over the rounds and the load average at each round. Each time is given as the
median of --repeat runs and as the fastest of them (`nabla attend --json`'s `fastest_ms`):
on a machine shared with other work the fastest run is the least disturbed one, and the
FMA peak (`nabla bench`, fastest of 8 runs) is measured that way too. When the cores are
oversubscribed even the fastest run is disturbed, so each round also compares CPU time,
which other processes do not lengthen: flex_attention on one thread (`time.process_time`,
least of --repeat runs) against `nabla attend`'s `cpu_ms` (least process CPU time of a run,
summed over its threads, so nabla's own parallel overhead counts against it).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# Strength of the positional structure in Q and K: sharp enough for a NABLA map with
# a few heavy blocks per row, soft enough that the cut keeps more than the STA window.
AMPLITUDE = 1.5


def make_inputs(grid, heads, d, seed):
    """[heads, T, H, W, D] float32 Q, K, V in raster order."""
    rng = np.random.default_rng(seed)
    t, h, w = grid
    tt, yy, xx = np.meshgrid(np.arange(t), np.arange(h) / 4, np.arange(w) / 4, indexing="ij")
    pos = np.stack([tt, yy, xx])  # [3, T, H, W]
    qs, ks = [], []
    for _ in range(heads):
        freq = rng.uniform(0.1, 1.2, d)
        phase = rng.uniform(0, 6.28, d)
        axis = np.arange(d) % 3
        base = AMPLITUDE * np.sin(freq[:, None, None, None] * pos[axis] + phase[:, None, None, None])  # [D, T, H, W]
        base = np.moveaxis(base, 0, -1)
        qs.append(base + rng.normal(0, 0.5, base.shape))
        ks.append(base + rng.normal(0, 0.5, base.shape))
    v = rng.normal(0, 1, (heads, t, h, w, d))
    return [np.ascontiguousarray(x, dtype=np.float32) for x in (np.stack(qs), np.stack(ks), v)]


def block_order(x, block):
    """[heads, T, H, W, D] -> [heads, S, D] in block order of `block`."""
    hh, t, h, w, d = x.shape
    bt, bh, bw = block
    x = x.reshape(hh, t // bt, bt, h // bh, bh, w // bw, bw, d)
    return x.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(hh, -1, d)


def cpu_ms(fn, repeat, warmup=1):
    """Least process CPU time in ms of `repeat` runs after `warmup`."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        runs.append((time.process_time() - start) * 1e3)
    return min(runs)


def timed_ms(fn, repeat, warmup=2):
    """(median, fastest) wall time in ms of `repeat` runs after `warmup`."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1e3)
    return statistics.median(runs), min(runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nabla", action="append", help="a nabla binary (a release build); repeatable")
    ap.add_argument("--density", type=float, default=0.28, help="target density of the NABLA+STA mask")
    ap.add_argument("--sta", default="5x3x3", help="STA window OR-ed into the mask")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every measurement")
    args = ap.parse_args()
    binaries = args.nabla or [".build/release/nabla"]

    import torch
    import torch.nn.functional as F
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    torch.set_num_threads(args.threads)
    grid, heads, d, block = (8, 32, 32), 4, 64, (1, 8, 8)
    work = tempfile.mkdtemp(prefix="nabla-torch-")
    q, k, v = make_inputs(grid, heads, d, seed=0)
    for name, x in (("q", q), ("k", k), ("v", v)):
        np.save(os.path.join(work, name + ".npy"), x)
    files = [os.path.join(work, n + ".npy") for n in ("q", "k", "v")]

    # The NABLA+STA mask nearest the target density.
    best = None
    for thr in np.arange(0.05, 0.96, 0.05):
        out = os.path.join(work, "mask-%.2f" % thr)
        r = subprocess.run([binaries[0], "mask", *files[:2], "--threshold", "%.2f" % thr, "--sta", args.sta,
                            "--out", out, "--json"], capture_output=True, text=True, check=True)
        density = json.loads(r.stdout)["density"]
        if best is None or abs(density - args.density) < abs(best[1] - args.density):
            best = (thr, density, out)
    thr, density, mask_dir = best
    mask = np.load(os.path.join(mask_dir, "mask.npy"))
    n = mask.shape[-1]

    # PyTorch on the same data, tokens in block order (64-token blocks contiguous).
    tq, tk, tv = (torch.from_numpy(block_order(x, block)).unsqueeze(0) for x in (q, k, v))
    num = torch.from_numpy(np.load(os.path.join(mask_dir, "kv_num_blocks.npy"))).unsqueeze(0)
    idx = torch.from_numpy(np.load(os.path.join(mask_dir, "kv_indices.npy"))).unsqueeze(0)
    bm = BlockMask.from_kv_blocks(num, idx, BLOCK_SIZE=64)
    flex = torch.compile(flex_attention)
    with torch.no_grad():
        out_flex = flex(tq, tk, tv, block_mask=bm)
    dense_flops = 4 * heads * (grid[0] * grid[1] * grid[2]) ** 2 * d
    print("torch %s, %d threads; grid 8x32x32, %d heads, D %d, block 1x8x8, N %d" % (torch.__version__, args.threads, heads, d, n))
    print("mask  thr %.2f + STA %s: density %.1f%%" % (thr, args.sta, 100 * density))

    levels = {}
    for binary in binaries:
        cpu = subprocess.run([binary, "bench", "--cpu"], capture_output=True, text=True)
        levels[binary] = cpu.stdout.strip() if cpu.returncode == 0 else "kernels: (no --cpu: built with -target-cpu)"
    rows = []  # one dict per round
    for rnd in range(args.rounds):
        row = {"load": " ".join(open("/proc/loadavg").read().split()[:3])}
        with torch.no_grad():
            row["flex"] = timed_ms(lambda: flex(tq, tk, tv, block_mask=bm), args.repeat)
            row["sdpa"] = timed_ms(lambda: F.scaled_dot_product_attention(tq, tk, tv), args.repeat)
            torch.set_num_threads(1)
            row["flex_cpu"] = cpu_ms(lambda: flex(tq, tk, tv, block_mask=bm), args.repeat)
            torch.set_num_threads(args.threads)
        for binary in binaries:
            # nabla, sparse and dense, kernels alone (median, fastest); its peak right after.
            r = subprocess.run([binary, "attend", *files, "--mask", os.path.join(mask_dir, "mask.npy"), "--dense",
                                "--repeat", str(args.repeat), "--json"], capture_output=True, text=True, check=True)
            j = json.loads(r.stdout)
            t, f = j["timing_ms"], j.get("fastest_ms", j["timing_ms"])
            c = j.get("cpu_ms", {}).get("sparse")
            b = subprocess.run([binary, "bench", *files, "--threshold", "%.2f" % thr, "--sta", args.sta,
                                "--attention-heads", "1", "--repeat", "1", "--json"], capture_output=True, text=True, check=True)
            peak = json.loads(b.stdout)["attention"]["peak_gflops"]
            row[binary] = {"sparse": (t["sparse"], f["sparse"]), "dense": (t["dense"], f["dense"]), "peak": peak,
                           "cpu": c}
        rows.append(row)
        print("")
        print("round %d, load %s: flex_attention %.1f ms (fastest %.1f; CPU time on 1 thread %.1f ms), SDPA %.1f ms (fastest %.1f)"
              % (rnd + 1, row["load"], *row["flex"], row["flex_cpu"], *row["sdpa"]))
        for binary in binaries:
            x = row[binary]
            print("  %s: sparse %.1f ms (fastest %.1f): /flex %.3f (fastest/fastest %.3f); dense %.1f ms (fastest %.1f): "
                  "%.1f%% (fastest %.1f%%) of peak %.1f GFLOP/s"
                  % (binary, x["sparse"][0], x["sparse"][1], x["sparse"][0] / row["flex"][0], x["sparse"][1] / row["flex"][1],
                     x["dense"][0], x["dense"][1], share(dense_flops, x["dense"][0], x["peak"]),
                     share(dense_flops, x["dense"][1], x["peak"]), x["peak"]))
            if x["cpu"] is not None:
                print("    sparse CPU time %.1f ms (all threads) / flex_attention's on 1 thread: %.3f"
                      % (x["cpu"], x["cpu"] / row["flex_cpu"]))

    def span(values, fmt):
        return (fmt % min(values)) + ("" if len(values) == 1 else "-" + (fmt % max(values)))

    print("")
    print("summary over %d rounds (ranges over the rounds; load %s)" % (args.rounds, ", ".join(r["load"].split()[0] for r in rows)))
    print("flex_attention (compiled) median %s ms, fastest %s ms; SDPA (dense) median %s ms"
          % (span([r["flex"][0] for r in rows], "%.1f"), span([r["flex"][1] for r in rows], "%.1f"),
             span([r["sdpa"][0] for r in rows], "%.1f")))
    for binary in binaries:
        x = [r[binary] for r in rows]
        print("")
        print("%s  (%s; FP32 FMA peak %s GFLOP/s, measured each round)" % (binary, levels[binary],
                                                                         span([v["peak"] for v in x], "%.1f")))
        print("  nabla sparse   median %s ms, fastest %s ms" % (span([v["sparse"][0] for v in x], "%.1f"),
                                                               span([v["sparse"][1] for v in x], "%.1f")))
        print("  nabla dense    median %s ms, fastest %s ms" % (span([v["dense"][0] for v in x], "%.1f"),
                                                               span([v["dense"][1] for v in x], "%.1f")))
        print("  sparse / flex_attention (target <= 0.5): medians %s, fastest runs %s"
              % (span([v["sparse"][0] / r["flex"][0] for v, r in zip(x, rows)], "%.3f"),
                 span([v["sparse"][1] / r["flex"][1] for v, r in zip(x, rows)], "%.3f")))
        if all(v["cpu"] is not None for v in x):
            print("  sparse CPU time / flex_attention's (1 thread): %s" % span([v["cpu"] / r["flex_cpu"] for v, r in zip(x, rows)], "%.3f"))
        print("  dense, %% of peak (target >= 75%%): median run %s, fastest run %s"
              % (span([share(dense_flops, v["dense"][0], v["peak"]) for v in x], "%.1f"),
                 span([share(dense_flops, v["dense"][1], v["peak"]) for v in x], "%.1f")))
        sp = statistics.median([v["sparse"][0] for v in x])
        de = statistics.median([v["dense"][0] for v in x])
        print("  nabla sparse/dense time vs density:  %.3f / %.3f = %.2f" % (sp / de, density, sp / de / density))
        # Agreement, as a check that both ran the same attention.
        subprocess.run([binary, "attend", *files, "--mask", os.path.join(mask_dir, "mask.npy"), "--out", work],
                       capture_output=True, text=True, check=True)
        mine = torch.from_numpy(block_order(np.load(os.path.join(work, "out.npy")), block)).unsqueeze(0)
        rel = (torch.linalg.norm(mine - out_flex) / torch.linalg.norm(out_flex)).item()
        print("  relative L2 of nabla's sparse output against flex_attention's: %.2e" % rel)


def share(flops, ms, peak_gflops):
    """Percent of the peak that `flops` in `ms` milliseconds reach."""
    return 100 * flops / (ms * 1e6) / peak_gflops


if __name__ == "__main__":
    sys.exit(main())
