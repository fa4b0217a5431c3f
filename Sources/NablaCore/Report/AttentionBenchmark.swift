import Foundation

/// Times the attention kernels on one input, as `nabla bench` reports them: block-sparse
/// attention under the engine's mask and dense attention (medians over runs, GFLOP/s of
/// the work done, share of this machine's FP32 peak measured in the same run), and how
/// sparse time follows density from 5% to 100%.
public struct AttentionBenchmark: Sendable {
    public let heads: [Int]
    /// The tensor index of each of `heads` (`QKInput.headIndices`), as the report names them.
    public let headNames: [Int]
    public let blocks: BlockGrid
    public let headDim: Int
    public let density: Double
    /// Wall times in ms of each measured run.
    public let sparseRuns: [Double]
    public let denseRuns: [Double]
    public let sparseFlops: Double
    public let denseFlops: Double
    /// FP32 FLOP/s of an FMA loop on every core (`measurePeakFlops`), with `variant`'s kernels.
    public let peakFlops: Double
    /// The kernel level the attention ran with (and the peak was measured with).
    public let variant: KernelVariant
    /// Per swept density: the density reached, and the median sparse time in ms.
    public let sweep: [(density: Double, ms: Double)]
    /// The joint text-video sequence the kernels ran over (text rows and columns kept, so
    /// densities and flops count the joint blocks), or `nil` without text.
    public let joint: JointSequence?

    /// The densities swept: per row, the heaviest blocks of the pooled map up to this share.
    public static let sweepDensities = [0.05, 0.10, 0.25, 0.50, 0.75, 1.0]

    /// Runs every kernel `warmup + repeats` times on heads `heads` of `input` and keeps the
    /// last `repeats`.
    /// - Throws: `NablaError` from packing (memory).
    public init(input: QKInput, map: PooledMap, mask: BlockMask, heads: [Int], repeats: Int, warmup: Int = 1) throws {
        precondition(input.v != nil, "attention needs V")
        let ops = try AttentionOperands(input: input, blocks: map.blocks, heads: heads)
        func runs(_ body: () -> Void) -> [Double] {
            (0..<(warmup + repeats)).compactMap { i in
                let start = ContinuousClock.now
                body()
                let ms = milliseconds(since: start)
                return i >= warmup ? ms : nil
            }
        }
        // With text, the joint rows: the text blocks' rows and columns kept (issue 18, item 2).
        let kept = ops.kernelRows(KeptKeyBlocks(mask))
        let keptBlocks = heads.reduce(0) { $0 + kept.keptBlocks(head: $1) }
        let n = ops.n
        sparseRuns = runs { _ = ops.sparse(kept) }
        denseRuns = runs { _ = ops.dense() }
        sparseFlops = ops.flops(keptBlocks: keptBlocks)
        denseFlops = ops.flops(keptBlocks: heads.count * n * n)
        density = Double(keptBlocks) / Double(heads.count * n * n)
        sweep = AttentionBenchmark.sweepDensities.map { target in
            let top = ops.kernelRows(topBlocks(map, perRow: Swift.max(1, Int((target * Double(map.n)).rounded()))))
            let reached = heads.reduce(0) { $0 + top.keptBlocks(head: $1) }
            let times = runs { _ = ops.sparse(top) }
            return (Double(reached) / Double(heads.count * n * n), median(times))
        }
        variant = KernelVariant.current
        peakFlops = variant.measurePeakFlops()
        self.heads = heads
        self.headNames = heads.map { input.headIndices[$0] }
        self.blocks = map.blocks
        self.headDim = input.headDim
        joint = ops.joint
    }

    var sparseMs: Double { median(sparseRuns) }
    var denseMs: Double { median(denseRuns) }

    /// Rows for the stage table (name, median, min, GFLOP/s, share of peak), then the
    /// density sweep.
    public func text() -> String {
        var lines: [String] = []
        let which = heads.count == 1 ? "head \(headNames[0])" : "\(heads.count) heads"
        lines.append("attention (\(which), float32, \(variant.name) kernels, \(sparseRuns.count) runs; GFLOP/s of the work done, share of FP32 peak, median run and fastest)")
        if let joint {
            lines.append("text: \(joint.textLine); densities are of the \(joint.count) joint blocks")
        }
        for (name, runs, flops) in [("sparse", sparseRuns, sparseFlops), ("dense", denseRuns, denseFlops)] {
            let ms = median(runs)
            let rate = flops / (ms * 1e6)
            let fastest = flops / ((runs.min() ?? ms) * 1e6)
            lines.append(name.padding(toLength: 12, withPad: " ", startingAt: 0) + pad(fixed(ms, 2), 9)
                         + pad(fixed(runs.min() ?? 0, 2), 9) + pad(fixed(rate, 1), 9) + " GFLOP/s"
                         + pad(percent(rate * 1e9 / peakFlops), 7) + " of peak (fastest run "
                         + percent(fastest * 1e9 / peakFlops) + ")")
        }
        lines.append("")
        lines.append("FP32 peak of this machine with the \(variant.name) kernels (FMA loop, all cores, fastest of 8 runs): \(fixed(peakFlops / 1e9, 1)) GFLOP/s")
        lines.append("sparse at density \(percent(density)): \(fixed(denseMs / sparseMs, 2))x faster than dense (ideal \(fixed(1 / density, 2))x)")
        lines.append("")
        lines.append("sparse/dense time against density (heaviest pooled blocks per row; 1.00 = time follows density):")
        lines.append("   density   sparse ms   sparse/dense   ratio/density")
        for s in sweep {
            let ratio = s.ms / denseMs
            lines.append(pad(percent(s.density), 10) + pad(fixed(s.ms, 2), 12) + pad(fixed(ratio, 3), 15) + pad(fixed(ratio / s.density, 2), 16))
        }
        return lines.joined(separator: "\n")
    }

    /// The figures as one JSON object.
    public func json() -> JSON {
        func stage(_ runs: [Double], _ flops: Double) -> JSON {
            let ms = median(runs)
            return .object([("median", .number(round3(ms))), ("min", .number(round3(runs.min() ?? 0))),
                            ("gflops", .number(round3(flops / (ms * 1e6)))),
                            ("share_of_peak", .number(round3(flops / (ms * 1e-3) / peakFlops))),
                            ("share_of_peak_fastest", .number(round3(flops / ((runs.min() ?? ms) * 1e-3) / peakFlops)))])
        }
        var fields: [(String, JSON)] = [
            ("heads", .array(headNames.map { .int($0) })),
            ("density", .number(density)),
            ("sparse", stage(sparseRuns, sparseFlops)),
            ("dense", stage(denseRuns, denseFlops)),
            ("kernels", .string(variant.name)),
            ("peak_gflops", .number(round3(peakFlops / 1e9))),
            ("speedup", .number(round3(denseMs / sparseMs))),
            ("ideal_speedup", .number(round3(1 / density))),
            ("sweep", .array(sweep.map { s in
                .object([("density", .number(s.density)), ("sparse_ms", .number(round3(s.ms))),
                         ("sparse_over_dense", .number(round3(s.ms / denseMs))),
                         ("ratio_over_density", .number(round3(s.ms / denseMs / s.density)))])
            })),
        ]
        if let joint { fields.insert(("joint_blocks", .int(joint.count)), at: 2) }
        return .object(fields)
    }
}

/// Per row of every head, the `perRow` key blocks with the largest pooled probability
/// (ties to the lower index): masks of an exact density for timing.
/// - Complexity: O(heads * N^2 log N).
func topBlocks(_ map: PooledMap, perRow: Int) -> KeptKeyBlocks {
    let n = map.n
    var kept = [UInt8](repeating: 0, count: map.heads * n * n)
    for row in 0..<(map.heads * n) {
        let base = row * n
        let order = (0..<n).sorted { map.probs[base + $0] > map.probs[base + $1] || (map.probs[base + $0] == map.probs[base + $1] && $0 < $1) }
        for b in order.prefix(perRow) { kept[base + b] = 1 }
    }
    return KeptKeyBlocks(kept: kept, heads: map.heads, n: n)
}

/// This machine's FP32 rate in FLOP/s with the engine's kernel level: every core runs 12
/// independent chains of vector fused multiply-adds (`KernelVariant.measurePeakFlops`).
/// - Complexity: O(1) (a fixed 0.2 s or so).
public func measurePeakFlops() -> Double {
    KernelVariant.current.measurePeakFlops()
}
