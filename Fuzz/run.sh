#!/usr/bin/env bash
# Builds nabla's libFuzzer targets and runs them on their corpus (docs/fuzzing.md).
#
#   Fuzz/run.sh TARGET|all [SECONDS]      e.g. Fuzz/run.sh all 30, Fuzz/run.sh zip 3600
#
# Targets: npy safetensors pickle zip dumpnames. Each runs SECONDS (default 30) from the
# committed seeds in Fuzz/Corpus/TARGET/ plus the inputs earlier runs found
# (Fuzz/.build/fuzz-work/TARGET/, not committed). Exits non-zero when a target finds a
# crash, a trap, a hang (an input taking more than FUZZ_TIMEOUT seconds, default 10)
# or a large allocation (over FUZZ_RSS_MB, default 2048, or FUZZ_MALLOC_MB per
# allocation, default 1024), and prints where libFuzzer saved the reproducer.
# FUZZ_FLAGS adds libFuzzer flags (for example "-jobs=2 -workers=2").
set -euo pipefail
cd "$(dirname "$0")"

all=(npy safetensors pickle zip dumpnames)
which="${1:-all}"
seconds="${2:-30}"
if [ "$which" = all ]; then
    targets=("${all[@]}")
elif [[ " ${all[*]} " == *" $which "* ]]; then
    targets=("$which")
else
    echo "usage: Fuzz/run.sh TARGET|all [SECONDS]   (targets: ${all[*]})" >&2
    exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "run.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2; }

# libFuzzer ships in the toolchain: -sanitize=fuzzer links it (and its main: no main in
# the targets, hence -parse-as-library) and instruments everything built for coverage,
# NablaCore and ZIPFoundation included; -sanitize=address adds AddressSanitizer.
build=(swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
start=$(date +%s)
echo "fuzz: building (${build[*]})"
"${build[@]}"
bin="$("${build[@]}" --show-bin-path)"
echo "fuzz: built in $(( $(date +%s) - start )) s"

failed=()
for t in "${targets[@]}"; do
    work=".build/fuzz-work/$t"
    artifacts=".build/fuzz-artifacts/$t"
    mkdir -p "$work" "$artifacts"
    rm -f "$artifacts"/*
    echo "fuzz: $t for $seconds s (corpus Corpus/$t, new inputs in Fuzz/$work)"
    set +e
    # Leak checks are off: the Swift runtime's caches read as leaks at exit. Swift's own
    # backtracer is off: under AddressSanitizer it reports its own reads of the stack;
    # libFuzzer prints the stack of a crash.
    # shellcheck disable=SC2086
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}" "$bin/fuzz-$t" \
        -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -malloc_limit_mb="${FUZZ_MALLOC_MB:-1024}" \
        -artifact_prefix="$artifacts/" -print_final_stats=1 ${FUZZ_FLAGS:-} \
        "$work" "Corpus/$t" > "$artifacts.log" 2>&1
    rc=$?
    set -e
    grep -E "^#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$artifacts.log" | sed "s/^/fuzz: $t: /" || true
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        echo "fuzz: $t FAILED (libFuzzer exit $rc); its log: Fuzz/$artifacts.log" >&2
        grep -E "ERROR: |Fatal error|SUMMARY|deadly signal|Test unit written" "$artifacts.log" | head -20 >&2 || true
        for f in "$artifacts"/*; do
            [ -e "$f" ] || continue
            echo "fuzz: reproducer: Fuzz/$f  (replay: $bin/fuzz-$t Fuzz/$f; keep it: cp Fuzz/$f Fuzz/Corpus/$t/crash-NAME)" >&2
        done
    fi
done

echo "fuzz: done in $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
