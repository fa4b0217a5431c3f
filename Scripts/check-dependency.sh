#!/usr/bin/env bash
# NablaCore as another package sees it: a versioned dependency by URL.
#
# Clones this repository's committed HEAD into a temp directory, tags the clone 9.9.9,
# creates a throwaway package beside it that depends on it by a file:// URL with
# `from: "9.9.9"` (SwiftPM treats that as a remote, versioned dependency, and refuses
# one whose targets carry unsafeFlags), builds it in release and runs a small main that
# computes a NABLA mask on synthetic Q/K through NablaCore's public API and prints the
# density. Fails when any step fails or the output is not what the main must print.
# Commit first: uncommitted changes are not in the clone. Takes minutes (a clean build
# of NablaCore and its dependencies).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git clone -q "$root" "$work/nabla"
git -C "$work/nabla" -c user.name=check -c user.email=check@localhost tag -a 9.9.9 -m "check-dependency"

mkdir -p "$work/app/Sources/Dependent"
cat > "$work/app/Package.swift" <<SWIFT
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "nabla-dependent",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "file://$work/nabla", from: "9.9.9")],
    targets: [
        .executableTarget(name: "Dependent", dependencies: [.product(name: "NablaCore", package: "nabla")]),
    ]
)
SWIFT
cat > "$work/app/Sources/Dependent/main.swift" <<'SWIFT'
import Foundation
import NablaCore

// Synthetic Q/K, [2 heads, 4x16x16 tokens, D 32]: a smooth function of the position plus
// a little deterministic noise, so the pooled map has structure.
let grid = TokenGrid(t: 4, h: 16, w: 16)
let heads = 2, d = 32
var q = [Float](), k = [Float]()
var state: UInt64 = 12345
let noise = { () -> Float in
    state = state &* 6364136223846793005 &+ 1442695040888963407
    return Float(Int64(bitPattern: state >> 11) % 1000) / 4000
}
for h in 0..<heads {
    for t in 0..<grid.t { for y in 0..<grid.h { for x in 0..<grid.w {
        for j in 0..<d {
            let pos = j % 3 == 0 ? Float(t) : Float(j % 3 == 1 ? y : x) / 4
            let base = 3 * sin(Float(j + h) * 0.37 * pos + Float(j))
            q.append(base + noise())
            k.append(base + noise())
        }
    } } }
}
let input = QKInput(name: "synthetic", q: HeadTokens(q, heads: heads, tokens: grid.tokens, headDim: d),
                    k: HeadTokens(k, heads: heads, tokens: grid.tokens, headDim: d), grid: grid, order: .raster)
guard let map = try PooledMap.compute(input, block: BlockShape(bt: 1, bh: 8, bw: 8)) else { fatalError("cancelled") }
let mask = map.cut(MaskSettings(threshold: 0.9))
print("kernels \(KernelVariant.active.name)")
print("N \(map.n)")
print("density " + String(format: "%.4f", mask.statistics.overallDensity))
SWIFT

cd "$work/app"
start=$(date +%s)
swift build -c release
echo "check-dependency: built in $(( $(date +%s) - start )) s (load: $(cut -d' ' -f1-3 /proc/loadavg))"
output="$(.build/release/Dependent)"
echo "$output"
density="$(printf '%s\n' "$output" | sed -n 's/^density //p')"
if ! printf '%s\n' "$output" | grep -q '^N 16$' || [ -z "$density" ] \
   || ! awk -v x="$density" 'BEGIN { exit !(x > 0 && x <= 1) }'; then
    echo "check-dependency: FAILED: unexpected output" >&2
    exit 1
fi
echo "check-dependency: ok (NablaCore 9.9.9 by file:// URL builds and computes a mask)"
