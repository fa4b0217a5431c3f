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

--rounds R repeats all of it R times, interleaved (PyTorch, then every binary, per round),
so every ratio is between figures of the same minutes; the summary gives the ranges.
--command mask times `nabla mask --out TMP --json` instead (`timing_ms.total` of one run,
the files written; peak RSS is then that of the command a user runs), as for N = 5040:

    python3 Benchmarks/Scripts/mask_bench.py /tmp/nabla-bench/n5040 --grid 21x48x80 --order block \
        --block 1x4x4 --repeat 1 --rounds 2 --command mask --nabla BEFORE --nabla AFTER
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

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
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds of PyTorch and every binary")
    ap.add_argument("--command", choices=["bench", "mask"], default="bench",
                    help="time nabla by `nabla bench` (median of --repeat) or one `nabla mask --out`")
    args = ap.parse_args()
    q, k = os.path.join(args.dir, "q.npy"), os.path.join(args.dir, "k.npy")
    base = [sys.executable, os.path.join(HERE, "torch_baseline.py"), q, k, "--grid", args.grid, "--order", args.order,
            "--block", args.block, "--threshold", args.threshold, "--repeat", str(args.repeat)]
    if args.sta:
        base += ["--sta", args.sta]
    levels = {}
    for binary in args.nabla:
        cpu = subprocess.run([binary, "bench", "--cpu"], capture_output=True, text=True)
        levels[binary] = cpu.stdout.strip() if cpu.returncode == 0 else "(no --cpu: built with -target-cpu)"
    results = []  # per round: (load, torch ms, torch MB, {binary: (ms, MB, stages)})
    for rnd in range(args.rounds):
        load = " ".join(open("/proc/loadavg").read().split()[:3])
        print("round %d, load %s" % (rnd + 1, load))
        out, torch_rss = run_measured(base)
        print(out.strip())
        torch_ms = float(re.search(r"mask median (\d+) ms", out).group(1))
        mine = {}
        for binary in args.nabla:
            if args.command == "bench":
                cmd = [binary, "bench", q, k, "--grid", args.grid, "--order", args.order, "--block", args.block,
                       "--threshold", args.threshold, "--repeat", str(args.repeat), "--attention-heads", "0", "--json"]
                if args.sta:
                    cmd += ["--sta", args.sta]
                out, rss = run_measured(cmd)
                stages = json.loads(out)["stages_ms"]
                total = stages["total"]["median"]
                detail = {name: round(v["median"], 1) for name, v in stages.items() if isinstance(v, dict) and "median" in v}
            else:
                folder = tempfile.mkdtemp(prefix="nabla-mask-bench-")
                cmd = [binary, "mask", q, k, "--grid", args.grid, "--order", args.order, "--block", args.block,
                       "--threshold", args.threshold, "--out", folder, "--json"]
                if args.sta:
                    cmd += ["--sta", args.sta]
                try:
                    out, rss = run_measured(cmd)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                timing = json.loads(out)["timing_ms"]
                total = timing["total"]
                detail = {name: round(v, 1) for name, v in timing.items() if name != "total"}
            mine[binary] = (total, rss, detail)
            print("%s  %s" % (binary, levels[binary]))
            print("  nabla %s %.1f ms; / PyTorch %.0f ms = %.3f; peak RSS %.0f MB"
                  % ("mask timing_ms.total" if args.command == "mask" else "bench median", total, torch_ms,
                     total / torch_ms, rss))
            print("  stages (ms): %s" % detail)
        results.append((load, torch_ms, torch_rss, mine))
    print("load after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    if args.rounds > 1:
        def span(values, fmt):
            return (fmt % min(values)) + "-" + (fmt % max(values))
        print("")
        print("summary over %d rounds (load %s)" % (args.rounds, ", ".join(r[0].split()[0] for r in results)))
        print("PyTorch mask median %s ms, peak RSS %s MB" % (span([r[1] for r in results], "%.0f"),
                                                             span([r[2] for r in results], "%.0f")))
        for binary in args.nabla:
            print("%s: %s ms, / PyTorch %s, peak RSS %s MB"
                  % (binary, span([r[3][binary][0] for r in results], "%.1f"),
                     span([r[3][binary][0] / r[1] for r in results], "%.3f"),
                     span([r[3][binary][1] for r in results], "%.0f")))


if __name__ == "__main__":
    sys.exit(main())
