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
    /// Recall (and the error) estimated from sampled query blocks (`AttentionEstimator`),
    /// once, after the kernels; `nil` for none.
    public var sample: SampleRequest?

    public init(sparse: Bool = true, dense: Bool = false, recall: Bool = false, repeats: Int = 1,
                sample: SampleRequest? = nil) {
        precondition(repeats >= 1, "at least one run")
        self.sparse = sparse
        self.dense = dense
        self.recall = recall
        self.repeats = repeats
        self.sample = sample
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
    /// The fastest of the runs of each kernel, ms (`sparse`, `dense`, `recall`): on a shared
    /// machine the least disturbed run.
    public let fastest: StageTimes
    /// The least CPU time of the process over the runs of each kernel, ms summed over its
    /// threads: the work done, which other processes sharing the cores do not lengthen.
    public let cpu: StageTimes
    public let error: (perHead: [Double], overall: Double)?
    public let recall: AttentionRecall?
    /// Per head, the sampled estimates (`request.sample`), and every head's together.
    public let estimates: [AttentionEstimate]?
    public let overallEstimate: (recall: SampledValue, relativeL2Error: SampledValue?)?
    public let repeats: Int
    let sampleRequest: SampleRequest?
    /// The packed operands the kernels ran on (their `joint`, `n` and output `tokens`).
    public let operands: AttentionOperands

    public var heads: Int { kept.heads }
    /// The tensor index of each head (`QKInput.headIndices`), as the reports name them.
    public let headIndices: [Int]

    /// Packs `input` for `blocks`, runs what `request` asks `request.repeats` times each,
    /// telling `progress` the stage (`sparse`, `dense`, `recall`, `estimate`), query
    /// blocks done and their total as it goes (from the kernels' worker threads).
    /// - Throws: `NablaError.badArgument` when the output or dense attention is asked
    ///   without V, or when the work would not fit in memory.
    public init(input: QKInput, blocks: BlockGrid, kept: KeptKeyBlocks, maskSource: String,
                request: AttentionRequest, progress: AttentionProgress? = nil) throws {
        if input.v == nil && (request.sparse || request.dense) {
            throw NablaError(.badArgument, "\(input.name) has Q and K but no V: attention outputs need V; only recall (--recall) can be computed")
        }
        let ops = try AttentionOperands(input: input, blocks: blocks)
        precondition(kept.heads == input.heads && (kept.n == blocks.count || kept.n == ops.n), "the mask must fit the input")
        // With text: the joint rows, text rows and columns kept (issue 18, item 2).
        let kept = ops.kernelRows(kept)
        var times = StageTimes([("pack", ops.packMilliseconds)])
        var fastest = StageTimes(), cpu = StageTimes()
        func timed<T>(_ name: String, _ body: () -> T) -> T {
            var runs: [Double] = [], cpuRuns: [Double] = []
            var result: T?
            for _ in 0..<request.repeats {
                let start = ContinuousClock.now, cpuStart = processCPUMilliseconds()
                result = body()
                runs.append(milliseconds(since: start))
                cpuRuns.append(processCPUMilliseconds() - cpuStart)
            }
            times.stages.append((name, median(runs)))
            fastest.stages.append((name, runs.min()!))
            cpu.stages.append((name, cpuRuns.min()!))
            return result!
        }
        let ticks = ProgressTicks(progress, blocks: ops.heads.count * ops.n)
        let sparse = request.sparse ? timed("sparse") {
            ops.run(kept: kept, values: true, recordMass: false, threads: nil, isCancelled: ticks.stage("sparse"))!.output!
        } : nil
        let dense = request.dense ? timed("dense") {
            ops.run(kept: nil, values: true, recordMass: false, threads: nil, isCancelled: ticks.stage("dense"))!.output!
        } : nil
        let mass = request.recall ? timed("recall") {
            TrueBlockMass(heads: ops.heads, n: ops.n,
                          mass: ops.run(kept: nil, values: false, recordMass: true, threads: nil, isCancelled: ticks.stage("recall"))!.blockMass!,
                          queryWeights: ops.queryWeights, joint: ops.joint)
        } : nil
        if let sample = request.sample {
            let start = ContinuousClock.now
            let estimator = try AttentionEstimator.run(sample, operands: ops, kept: kept, progress: progress)
            times.stages.append(("estimate", milliseconds(since: start)))
            estimates = estimator.estimates
            overallEstimate = estimator.overall
        } else {
            estimates = nil
            overallEstimate = nil
        }
        inputName = input.name
        headIndices = input.headIndices
        self.blocks = blocks
        headDim = input.headDim
        self.maskSource = maskSource
        self.kept = kept
        self.sparse = sparse
        self.dense = dense
        self.times = times
        self.fastest = fastest
        self.cpu = cpu
        if let sparse, let dense {
            error = relativeL2Error(sparse, reference: dense, heads: input.heads)
        } else {
            error = nil
        }
        recall = mass?.recall(of: kept)
        repeats = request.repeats
        sampleRequest = request.sample
        operands = ops
    }

    /// GFLOP/s of the work done by the named kernel (`sparse`, `dense` or `recall`).
    public func gflops(_ stage: String) -> Double? {
        guard ["sparse", "dense", "recall"].contains(stage), let ms = times[stage], ms > 0 else { return nil }
        let blocksDone = stage == "sparse" ? kept.count.reduce(0) { $0 + Int($1) } : heads * operands.n * operands.n
        let perPair = operands.flops(keptBlocks: 1) * (stage == "recall" ? 0.5 : 1)
        return perPair * Double(blocksDone) / (ms * 1e6)
    }

    /// One JSON object: `density`, `timing_ms` (`sparse`, `dense`, `recall`, `pack`:
    /// medians over `repeat` runs of the kernels alone), `fastest_ms` (the fastest run of
    /// each kernel), `cpu_ms` (the least process CPU time of a run), `gflops`, `relative_l2_error`,
    /// `recall`, `oracle_recall`, and `heads` (per head `density`, `relative_l2_error`,
    /// `recall`, `oracle_recall`; `null` where not computed).
    public func json(outputs: [String] = []) -> JSON {
        let heads: [JSON] = (0..<self.heads).map { h in
            if let fields = estimateFields(h) { return .object(fields) }
            return .object([("head", .int(headIndices[h])), ("density", .number(kept.density(head: h))),
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
            ("fastest_ms", .object(fastest.stages.map { ($0.name, .number(round3($0.ms))) })),
            ("cpu_ms", .object(cpu.stages.map { ($0.name, .number(round3($0.ms))) })),
            ("gflops", .object(rates)),
            ("relative_l2_error", error.map { .number($0.overall) } ?? .null),
            ("recall", recall.map { r in .number((0..<self.heads).reduce(0) { $0 + r.recall(slot: $1) } / Double(self.heads)) } ?? .null),
            ("oracle_recall", recall.map { r in .number((0..<self.heads).reduce(0) { $0 + r.oracle(slot: $1) } / Double(self.heads)) } ?? .null),
            ("heads", .array(heads)),
        ]
        if let overall = overallEstimate, let e = estimates {
            // The sampled figures in the exact ones' places, with their intervals after.
            fields[fields.firstIndex { $0.0 == "relative_l2_error" }!].1 = overall.relativeL2Error.map { .number($0.value) } ?? .null
            fields[fields.firstIndex { $0.0 == "recall" }!].1 = .number(overall.recall.value)
            fields[fields.firstIndex { $0.0 == "oracle_recall" }!].1 = .number(e.reduce(0) { $0 + $1.oracle.value } / Double(e.count))
            fields.insert(contentsOf: estimateSummaryFields, at: fields.firstIndex { $0.0 == "heads" }!)
        }
        if let joint = operands.joint {
            // After "edge_means": the joint sequence the kernels ran (issue 18, item 2).
            fields.insert(contentsOf: [
                ("text_tokens", .int(joint.text.count)), ("text_place", .string(joint.text.place.rawValue)),
                ("text_blocks", .int(joint.textBlocks)), ("joint_blocks", .int(joint.count)), ("tokens", .int(joint.tokens)),
                ("text_means", .string("text query rows and text key columns are always kept (run densely); density is over the joint "
                    + "blocks' real token pairs; recall is the mean over every query token, text and video, with the true mass on text keys counted as kept")),
            ], at: fields.firstIndex { $0.0 == "num_heads" }!)
        }
        if !outputs.isEmpty { fields.append(("outputs", .array(outputs.map { .string($0) }))) }
        return .object(fields)
    }

    /// A readable multi-line summary.
    public func text() -> String {
        var lines: [String] = []
        lines.append("input      \(inputName)")
        lines.append("grid       \(blocks.grid), block \(blocks.block) -> block grid \(blocks), N = \(blocks.count), head dim \(headDim), \(heads) heads")
        if let edge = blocks.edgeText { lines.append("edge       \(edge)") }
        if let joint = operands.joint {
            lines.append("text       \(joint.textLine); \(joint.count) joint blocks, \(joint.tokens) tokens")
        }
        lines.append("mask       \(maskSource), density \(percent(kept.density))")
        lines.append("")
        var header = "head   density"
        if error != nil { header += "   rel. L2 error" }
        if recall != nil { header += "   recall   oracle" }
        if let e = estimates?.first {
            if e.relativeL2Error != nil { header += "   rel. L2 error (sampled)" }
            header += "   recall (sampled)   oracle"
        }
        lines.append(header)
        for h in 0..<heads {
            var line = pad(String(headIndices[h]), 4) + "  " + pad(percent(kept.density(head: h)), 8)
            if let error { line += "   " + pad(String(format: "%.3e", error.perHead[h]), 14) }
            if let recall { line += "   " + pad(fixed(recall.recall(slot: h), 4), 6) + "   " + pad(fixed(recall.oracle(slot: h), 4), 6) }
            if let e = estimates?[h] {
                if let l2 = e.relativeL2Error { line += "   " + pad(l2.text(0, format: "%.3e"), 24) }
                line += "   " + pad(e.recall.text(4), 16) + "   " + pad(fixed(e.oracle.value, 4), 6)
            }
            lines.append(line)
        }
        if let error { lines.append(" all  " + pad(percent(kept.density), 8) + "   " + pad(String(format: "%.3e", error.overall), 14)) }
        if let overall = overallEstimate, heads > 1 {
            var line = " all  " + pad(percent(kept.density), 8)
            if let l2 = overall.relativeL2Error { line += "   " + pad(l2.text(0, format: "%.3e"), 24) }
            lines.append(line + "   " + pad(overall.recall.text(4), 16))
        }
        if let line = estimateLine { lines.append(line) }
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

/// CPU time this process has used so far, all threads, in ms (`CLOCK_PROCESS_CPUTIME_ID`).
func processCPUMilliseconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}
