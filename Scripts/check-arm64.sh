#!/usr/bin/env bash
# The arm64 (NEON) kernels, checked from an x86-64 machine:
#  1. cross-compile every C file of Sources/CNablaKernels with clang --target=aarch64-linux-gnu
#     (warnings are errors), so the NEON level at least builds;
#  2. when qemu-aarch64 and the arm64 C library (Debian: libc6-dev-arm64-cross, and
#     libgcc-12-dev-arm64-cross or similar) are present, link Tests/CKernels/check_kernels.c
#     statically with lld and run it: every kernel against its naive reference.
# Exit 0 when the compile (and the run, if possible) passed; step 2 is skipped with a note
# when its tools are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(--target=aarch64-linux-gnu -O2 -Wall -Wextra -Werror -ISources/CNablaKernels/include)
# The kernels need no C library (stdint.h and stddef.h come from the compiler's own
# headers when freestanding): the compile needs no arm64 libc headers, which a machine
# without libc6-dev-arm64-cross lacks (glibc's stdint.h wants bits/ of the target).
for f in Sources/CNablaKernels/*.c; do
    "$CC" "${flags[@]}" -ffreestanding -c "$f" -o "$out/$(basename "$f" .c).o"
done
echo "arm64: Sources/CNablaKernels compiles for aarch64 (NEON level)"

if ! command -v qemu-aarch64 >/dev/null 2>&1; then
    echo "arm64: qemu-aarch64 not found (apt install qemu-user): not running the kernel checks"
    exit 0
fi
if ! "$CC" "${flags[@]}" -fuse-ld=lld -static "$out"/*.o Tests/CKernels/check_kernels.c -lm -o "$out/check" 2>"$out/link.log"; then
    echo "arm64: cannot link for aarch64 (needs libc6-dev-arm64-cross and the arm64 libgcc): not running the kernel checks"
    sed 's/^/  /' "$out/link.log" | head -5
    exit 0
fi
qemu-aarch64 "$out/check"
