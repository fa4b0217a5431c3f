import Foundation

/// What to compute beside block-sparse attention.
public struct AttentionRequest: Sendable, Equatable {
    /// Compute the sparse output (needs V).
    public var sparse: Bool
    /// Also compute dense attention and the error of the sparse output against it (needs V).
    public var dense: Bool
    /// Compute the true block mass map, recall and oracle (needs only Q and K).
    public var recall: Bool
    /// Runs of each kernel; the medians are reported.
    public var repeats: Int

    public init(sparse: Bool = true, dense: Bool = false, recall: Bool = false, repeats: Int = 1) {
        precondition(repeats >= 1, "at least one run")
        self.sparse = sparse
        self.dense = dense
        self.recall = recall
        self.repeats = repeats
    }
}

/// Block-sparse (and dense) attention of an input under a mask, with its time, error and
/// recall, as `nabla attend` reports it.
public struct AttentionReport: Sendable {
    public let inputName: String
    public let blocks: BlockGrid
    public let headDim: Int
    /// Where the mask came from (`"thr 0.90, STA off"` or a file name).
    public let maskSource: String
    public let kept: KeptKeyBlocks
    /// `[heads, S, D]` float32 in the input's stored order, or `nil` when not computed.
    public let sparse: [Float]?
    public let dense: [Float]?
    /// Median wall times in ms of the kernels alone (no packing, no file I/O): `sparse`,
    /// `dense`, `recall`; and `pack`, the one-off gathering into block order.
    public let times: StageTimes
    public let error: (perHead: [Double], overall: Double)?
    public let recall: AttentionRecall?
    public let repeats: Int
    let operands: AttentionOperands

    public var heads: Int { kept.heads }
    /// The tensor index of each head (`QKInput.headIndices`), as the reports name them.
    public let headIndices: [Int]

    /// Packs `input` for `blocks`, runs what `request` asks `request.repeats` times each.
    /// - Throws: `NablaError.badArgument` when the output or dense attention is asked
    ///   without V, or when the work would not fit in memory.
    public init(input: QKInput, blocks: BlockGrid, kept: KeptKeyBlocks, maskSource: String,
                request: AttentionRequest) throws {
        precondition(kept.heads == input.heads && kept.n == blocks.count, "the mask must fit the input")
        if input.v == nil && (request.sparse || request.dense) {
            throw NablaError(.badArgument, "\(input.name) has Q and K but no V: attention outputs need V; only recall (--recall) can be computed")
        }
        let ops = try AttentionOperands(input: input, blocks: blocks)
        var times = StageTimes([("pack", ops.packMilliseconds)])
        func timed<T>(_ name: String, _ body: () -> T) -> T {
            var runs: [Double] = []
            var result: T?
            for _ in 0..<request.repeats {
                let start = ContinuousClock.now
                result = body()
                runs.append(milliseconds(since: start))
            }
            times.stages.append((name, median(runs)))
            return result!
        }
        let sparse = request.sparse ? timed("sparse") { ops.sparse(kept) } : nil
        let dense = request.dense ? timed("dense") { ops.dense() } : nil
        let mass = request.recall ? timed("recall") { ops.trueBlockMass() } : nil
        inputName = input.name
        headIndices = input.headIndices
        self.blocks = blocks
        headDim = input.headDim
        self.maskSource = maskSource
        self.kept = kept
        self.sparse = sparse
        self.dense = dense
        self.times = times
        if let sparse, let dense {
            error = relativeL2Error(sparse, reference: dense, heads: input.heads)
        } else {
            error = nil
        }
        recall = mass?.recall(of: kept)
        repeats = request.repeats
        operands = ops
    }

    /// GFLOP/s of the work done by the named kernel (`sparse`, `dense` or `recall`).
    public func gflops(_ stage: String) -> Double? {
        guard ["sparse", "dense", "recall"].contains(stage), let ms = times[stage], ms > 0 else { return nil }
        let blocksDone = stage == "sparse" ? kept.count.reduce(0) { $0 + Int($1) } : heads * blocks.count * blocks.count
        let perPair = operands.flops(keptBlocks: 1) * (stage == "recall" ? 0.5 : 1)
        return perPair * Double(blocksDone) / (ms * 1e6)
    }

    /// One JSON object: `density`, `timing_ms` (`sparse`, `dense`, `recall`, `pack`:
    /// medians over `repeat` runs of the kernels alone), `gflops`, `relative_l2_error`,
    /// `recall`, `oracle_recall`, and `heads` (per head `density`, `relative_l2_error`,
    /// `recall`, `oracle_recall`; `null` where not computed).
    public func json(outputs: [String] = []) -> JSON {
        let heads: [JSON] = (0..<self.heads).map { h in
            .object([("head", .int(headIndices[h])), ("density", .number(kept.density(head: h))),
                     ("relative_l2_error", error.map { .number($0.perHead[h]) } ?? .null),
                     ("recall", recall.map { .number($0.recall(slot: h)) } ?? .null),
                     ("oracle_recall", recall.map { .number($0.oracle(slot: h)) } ?? .null)])
        }
        let timing: [(String, JSON)] = times.stages.map { ($0.name, .number(round3($0.ms))) }
        let rates: [(String, JSON)] = times.stages.compactMap { s in gflops(s.name).map { (s.name, .number(round3($0))) } }
        var fields: [(String, JSON)] = [
            ("input", .string(inputName)),
            ("grid", JSON.triple(blocks.grid.t, blocks.grid.h, blocks.grid.w)),
            ("block", JSON.triple(blocks.block.bt, blocks.block.bh, blocks.block.bw)),
            ("n", .int(blocks.count)),
            ("edge", blocks.edgeText == nil ? .null : .string(blocks.edge.rawValue)),
            ("edge_means", blocks.edgeText.map { .string($0) } ?? .null),
            ("num_heads", .int(self.heads)),
            ("head_dim", .int(headDim)),
            ("mask", .string(maskSource)),
            ("density", .number(kept.density)),
            ("repeat", .int(repeats)),
            ("timing_ms", .object(timing)),
            ("gflops", .object(rates)),
            ("relative_l2_error", error.map { .number($0.overall) } ?? .null),
            ("recall", recall.map { r in .number((0..<self.heads).reduce(0) { $0 + r.recall(slot: $1) } / Double(self.heads)) } ?? .null),
            ("oracle_recall", recall.map { r in .number((0..<self.heads).reduce(0) { $0 + r.oracle(slot: $1) } / Double(self.heads)) } ?? .null),
            ("heads", .array(heads)),
        ]
        if !outputs.isEmpty { fields.append(("outputs", .array(outputs.map { .string($0) }))) }
        return .object(fields)
    }

    /// A readable multi-line summary.
    public func text() -> String {
        var lines: [String] = []
        lines.append("input      \(inputName)")
        lines.append("grid       \(blocks.grid), block \(blocks.block) -> block grid \(blocks), N = \(blocks.count), head dim \(headDim), \(heads) heads")
        if let edge = blocks.edgeText { lines.append("edge       \(edge)") }
        lines.append("mask       \(maskSource), density \(percent(kept.density))")
        lines.append("")
        var header = "head   density"
        if error != nil { header += "   rel. L2 error" }
        if recall != nil { header += "   recall   oracle" }
        lines.append(header)
        for h in 0..<heads {
            var line = pad(String(headIndices[h]), 4) + "  " + pad(percent(kept.density(head: h)), 8)
            if let error { line += "   " + pad(String(format: "%.3e", error.perHead[h]), 14) }
            if let recall { line += "   " + pad(fixed(recall.recall(slot: h), 4), 6) + "   " + pad(fixed(recall.oracle(slot: h), 4), 6) }
            lines.append(line)
        }
        if let error { lines.append(" all  " + pad(percent(kept.density), 8) + "   " + pad(String(format: "%.3e", error.overall), 14)) }
        lines.append("")
        for s in times.stages {
            var line = pad(s.name, 7) + "  " + pad(fixed(s.ms, 2), 9) + " ms"
            if let g = gflops(s.name) { line += "  " + pad(fixed(g, 1), 7) + " GFLOP/s" }
            lines.append(line)
        }
        if let s = times["sparse"], let d = times["dense"], s > 0 {
            lines.append("speed-up   \(fixed(d / s, 2))x (ideal \(fixed(1 / kept.density, 2))x = 1/density)")
        }
        if repeats > 1 { lines.append("(medians of \(repeats) runs)") }
        return lines.joined(separator: "\n")
    }
}
