#!/usr/bin/env python3
"""NABLA mask time of nabla binaries against the official algorithm in PyTorch, in one run
(not run by tests).

    python3 Benchmarks/Scripts/make_inputs.py /tmp/nabla-bench n1050 [n5040]
    python3 Benchmarks/Scripts/mask_bench.py /tmp/nabla-bench/n1050 --grid 21x40x80 --sta 11x3x3 \
        --nabla .build-before/release/nabla --nabla .build/release/nabla

Runs Benchmarks/Scripts/torch_baseline.py (median of --repeat runs of the mask alone,
inputs loaded and reordered first), then for each nabla binary `nabla bench` on the same
files (median total of pool ... block_mask over --repeat runs, inputs memory-mapped),
each in its own process so that its peak RSS is its own. Prints times, the ratio
nabla / PyTorch, peak RSS and the load average.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_measured(cmd):
    """Runs cmd in a child python that reports the child's peak RSS (MB) on its last line."""
    code = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)\n"
            "print('\\nPEAK_RSS_MB %.0f' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))\n"
            "sys.exit(r.returncode)\n")
    r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), r.stderr))
    out, _, tail = r.stdout.rpartition("PEAK_RSS_MB ")
    return out, float(tail.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="folder with q.npy and k.npy")
    ap.add_argument("--grid", required=True)
    ap.add_argument("--order", default="raster")
    ap.add_argument("--block", default="1x8x8")
    ap.add_argument("--threshold", default="0.9")
    ap.add_argument("--sta")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--nabla", action="append", required=True)
    args = ap.parse_args()
    q, k = os.path.join(args.dir, "q.npy"), os.path.join(args.dir, "k.npy")
    print("load before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    base = [sys.executable, os.path.join(HERE, "torch_baseline.py"), q, k, "--grid", args.grid, "--order", args.order,
            "--block", args.block, "--threshold", args.threshold, "--repeat", str(args.repeat)]
    if args.sta:
        base += ["--sta", args.sta]
    out, _ = run_measured(base)
    print(out.strip())
    torch_ms = float(re.search(r"mask median (\d+) ms", out).group(1))
    for binary in args.nabla:
        cmd = [binary, "bench", q, k, "--grid", args.grid, "--order", args.order, "--block", args.block,
               "--threshold", args.threshold, "--repeat", str(args.repeat), "--attention-heads", "0", "--json"]
        if args.sta:
            cmd += ["--sta", args.sta]
        out, rss = run_measured(cmd)
        bench = json.loads(out)
        stages = bench["stages_ms"]
        total = stages["total"]["median"]
        cpu = subprocess.run([binary, "bench", "--cpu"], capture_output=True, text=True)
        level = cpu.stdout.strip() if cpu.returncode == 0 else "(no --cpu: built with -target-cpu)"
        print("%s  %s" % (binary, level))
        print("  nabla mask median %.1f ms; / PyTorch %.0f ms = %.3f; peak RSS %.0f MB"
              % (total, torch_ms, total / torch_ms, rss))
        detail = {name: round(v["median"], 1) for name, v in stages.items() if isinstance(v, dict) and "median" in v}
        print("  stages (median ms): %s" % detail)
    print("load after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    sys.exit(main())
