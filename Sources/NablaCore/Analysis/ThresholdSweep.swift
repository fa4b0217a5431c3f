import Foundation

/// A mask's figures over a range of thresholds, for choosing one: density, pooled mass
/// kept, the predicted speed-up `1/density`, and where asked the recall of the true
/// attention, the output error against dense attention and the speed-up measured by
/// running the kernels.
///
/// Layout: every per-point array is `[points][heads]`; the cut at each threshold is the
/// engine's (`PooledMap.cut`), so the density and mass equal `nabla mask`'s.
public struct ThresholdSweep: Sendable {
    /// One measured point: kernel medians in ms and the sparse output's error.
    public struct Measurement: Sendable, Equatable {
        public let threshold: Double
        /// Overall density of the mask timed.
        public let density: Double
        public let sparseMs: Double
        public let denseMs: Double
        /// Relative L2 error of the sparse output against the dense one, all heads.
        public let error: Double
        /// `denseMs / sparseMs`.
        public var speedUp: Double { sparseMs > 0 ? denseMs / sparseMs : .infinity }
    }

    public let thresholds: [Double]
    public let sta: STAWindow?
    public let heads: Int
    public let density: [[Double]]
    public let massKept: [[Double]]
    /// Overall density per point: kept blocks over `heads * N^2` (the heads' mean).
    public let overallDensity: [Double]
    /// Mean recall over query blocks, per point and head (`nil` unless asked).
    public let recall: [[Double]]?
    /// Per point, the recall with its intervals when it was estimated from a sample
    /// (`recallSample`), else `nil`.
    public let recallFigures: [RecallFigures]?
    /// Relative L2 error per point and head (`nil` unless asked).
    public let error: [[Double]]?
    /// Relative L2 error per point over all heads together (`nil` unless asked).
    public let overallError: [Double]?
    /// Kernel runs at a few thresholds.
    public let measured: [Measurement]

    /// `"0:1:0.05"` (start:stop:step, both ends included) or a comma list `"0.5,0.9"`.
    /// - Throws: `NablaError.badArgument` naming the text.
    public static func parseThresholds(_ text: String) throws -> [Double] {
        func bad(_ why: String) -> NablaError {
            NablaError(.badArgument, "thresholds '\(text)': \(why) (give start:stop:step such as 0:1:0.05, or a list such as 0.5,0.9)")
        }
        let values: [Double]
        if text.contains(":") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 3, let a = parts[0], let b = parts[1], let s = parts[2] else { throw bad("not three numbers") }
            guard s > 0, s.isFinite, b >= a else { throw bad("the step must be positive and stop at least start") }
            let count = Int(((b - a) / s + 1e-9).rounded(.down)) + 1
            guard count <= 10_000 else { throw bad("more than 10000 points") }
            values = (0..<count).map { ((a + Double($0) * s) * 1e9).rounded() / 1e9 }
        } else {
            let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw bad("not a list of numbers") }
            values = parts.map { $0! }
        }
        guard values.allSatisfy({ $0.isFinite && (0...1).contains($0) }) else { throw bad("every threshold must be in [0, 1]") }
        return values
    }

    /// Cuts `map` at every threshold; with `input`, also `recall` (the true block mass,
    /// once), `error` (sparse attention at every threshold against dense, needs V) and
    /// kernel timings at `measureAt` (medians of `repeats` runs, needs V).
    ///
    /// With `errorBudgetMs`, the error at every threshold is computed only when it is
    /// expected to take at most that long: the dense run's time times the sum of the
    /// densities (a sparse run costs about its density's share of a dense one); otherwise
    /// `error` stays `nil` (the measured points still carry theirs).
    /// - Throws: `NablaError.badArgument` when error or timings are asked without V, or
    ///   the work would not fit in memory; `CancellationError` when `isCancelled` turned
    ///   true (polled before every query block of every kernel run).
    /// - Complexity: O(points * heads * N^2) for the cuts; the kernels' own cost per run.
    ///
    /// `trueMass` and `dense` (the output and its run's time), when a caller already has
    /// them for every head of `map` (the app's timing panel), are used instead of
    /// running those kernels again.
    public init(map: PooledMap, sta: STAWindow?, thresholds: [Double], input: QKInput? = nil,
                recall: Bool = false, error: Bool = false, errorBudgetMs: Double? = nil,
                measureAt: [Double] = [], repeats: Int = 1, trueMass: TrueBlockMass? = nil,
                recallSample: RecallSource.Request? = nil,
                dense known: (output: [Float], ms: Double)? = nil, isCancelled: () -> Bool = { false }) throws {
        let masks = thresholds.map { map.cut(MaskSettings(threshold: $0, sta: sta)) }
        self.thresholds = thresholds
        self.sta = sta
        heads = map.heads
        density = masks.map(\.statistics.density)
        massKept = masks.map(\.statistics.massKept)
        overallDensity = masks.map(\.statistics.overallDensity)
        let needsV = error || !measureAt.isEmpty
        if (recall || needsV) && input == nil { preconditionFailure("recall, error and timings need the input") }
        if needsV, let input, input.v == nil {
            throw NablaError(.badArgument, "\(input.name) has Q and K but no V: the output error and measured speed-up need V (give Q K V); recall needs only Q and K")
        }
        // Packed only for kernel runs: a sampled recall packs its own heads a group at a time.
        let needsKernels = needsV || (recall && recallSample == nil)
        let ops = needsKernels ? try input.map { try AttentionOperands(input: $0, blocks: map.blocks) } : nil
        /// One kernel run and its wall time; throws when cancelled.
        func timed(_ work: AttentionWork) throws -> (AttentionWorkResult, Double) {
            let start = ContinuousClock.now
            guard let ops, let result = ops.compute(work, isCancelled: isCancelled) else { throw CancellationError() }
            return (result, milliseconds(since: start))
        }
        func output(_ work: AttentionWork) throws -> (out: [Float], ms: Double) {
            guard case (.output(let out), let ms) = try timed(work) else { preconditionFailure("an output") }
            return (out, ms)
        }
        if recall, let recallSample, let input {
            let kept = masks.map(KeptKeyBlocks.init)
            let source = try RecallSource.sample(recallSample, input: input, blocks: map.blocks, autoMasks: kept,
                                                 isCancelled: isCancelled)
            let figures = kept.map(source.recall(of:))
            recallFigures = figures.contains { $0.sampled != nil } ? figures : nil
            self.recall = figures.map(\.values)
        } else if recall {
            let mass: TrueBlockMass
            if let trueMass {
                precondition(trueMass.heads == Array(0..<map.heads) && trueMass.n == (ops?.n ?? map.n), "a known mass map of every head")
                // A map rebuilt from its values alone regains the operands' weights and joint blocks.
                let lost = (trueMass.queryWeights == nil && ops?.queryWeights != nil) || (trueMass.joint == nil && ops?.joint != nil)
                mass = !lost ? trueMass : TrueBlockMass(heads: trueMass.heads, n: trueMass.n, mass: trueMass.mass,
                                                        queryWeights: trueMass.queryWeights ?? ops?.queryWeights,
                                                        joint: trueMass.joint ?? ops?.joint)
            } else {
                guard case (.mass(let m), _) = try timed(.trueBlockMass) else { preconditionFailure("a mass map") }
                mass = m
            }
            self.recall = masks.map { m in
                let r = mass.recall(of: KeptKeyBlocks(m))
                return (0..<m.heads).map { r.recall(slot: $0) }
            }
            recallFigures = nil
        } else {
            self.recall = nil
            recallFigures = nil
        }
        var dense: [Float]?
        var denseMs = 0.0
        if needsV, let known {
            dense = known.output
            denseMs = known.ms
        } else if needsV {
            var runs: [Double] = []
            for _ in 0..<max(repeats, 1) {
                let run = try output(.dense)
                dense = run.out
                runs.append(run.ms)
            }
            denseMs = median(runs)
        }
        let expectedErrorMs = denseMs * overallDensity.reduce(0, +)
        if error, let dense, expectedErrorMs <= (errorBudgetMs ?? .infinity) {
            let errors = try masks.map { relativeL2Error(try output(.sparse(KeptKeyBlocks($0))).out, reference: dense, heads: map.heads) }
            self.error = errors.map(\.perHead)
            overallError = errors.map(\.overall)
        } else {
            self.error = nil
            overallError = nil
        }
        var measured: [Measurement] = []
        if let dense {
            for t in measureAt {
                let mask = map.cut(MaskSettings(threshold: t, sta: sta))
                let kept = KeptKeyBlocks(mask)
                var runs: [Double] = []
                var out: [Float] = []
                for _ in 0..<max(repeats, 1) {
                    let run = try output(.sparse(kept))
                    out = run.out
                    runs.append(run.ms)
                }
                measured.append(Measurement(threshold: t, density: mask.statistics.overallDensity, sparseMs: median(runs), denseMs: denseMs,
                                            error: relativeL2Error(out, reference: dense, heads: map.heads).overall))
            }
        }
        self.measured = measured
    }

    /// The mean over heads of `values[point]`.
    public static func averaged(_ values: [[Double]]) -> [Double] {
        values.map { $0.reduce(0, +) / Double(max($0.count, 1)) }
    }


    /// One JSON object: `thresholds`, and `points` (per threshold `threshold`, `density`,
    /// `mass_kept`, `predicted_speedup`, `recall`, `relative_l2_error`, and `heads` with
    /// the same per head), and `measured` (per point `threshold`, `timing_ms` with `sparse`
    /// and `dense`, `measured_speedup`, `predicted_speedup`, `relative_l2_error`).
    public func json(inputName: String, blocks: BlockGrid, headIndices: [Int]? = nil) -> JSON {
        let avgDensity = overallDensity, avgMass = ThresholdSweep.averaged(massKept)
        let avgRecall = recall.map(ThresholdSweep.averaged), avgError = overallError
        let points: [JSON] = thresholds.indices.map { i in
            let heads: [JSON] = (0..<self.heads).map { h in
                .object([("head", .int(headIndices?[h] ?? h)), ("density", .number(density[i][h])), ("mass_kept", .number(massKept[i][h])),
                         ("recall", recall.map { .number($0[i][h]) } ?? .null),
                         ("relative_l2_error", error.map { .number($0[i][h]) } ?? .null)]
                        + ciFields(recallFigures?[i].perHead[h]))
            }
            return .object([("threshold", .number(thresholds[i])), ("density", .number(avgDensity[i])),
                            ("mass_kept", .number(avgMass[i])), ("predicted_speedup", .number(1 / avgDensity[i])),
                            ("recall", avgRecall.map { .number($0[i]) } ?? .null)]
                            + ciFields(recallFigures?[i].overall)
                            + [("relative_l2_error", avgError.map { .number($0[i]) } ?? .null),
                               ("heads", .array(heads))])
        }
        let measured: [JSON] = self.measured.map { m in
            let d = m.density
            return .object([("threshold", .number(m.threshold)),
                            ("timing_ms", .object([("sparse", .number(round3(m.sparseMs))), ("dense", .number(round3(m.denseMs)))])),
                            ("measured_speedup", .number(m.speedUp)), ("predicted_speedup", .number(1 / d)),
                            ("density", .number(d)), ("relative_l2_error", .number(m.error))])
        }
        return .object([
            ("input", .string(inputName)),
            ("block", .array([.int(blocks.block.bt), .int(blocks.block.bh), .int(blocks.block.bw)])),
            ("n", .int(blocks.count)),
            ("num_heads", .int(heads)),
            ("sta", sta.map { .array([.int($0.wt), .int($0.wh), .int($0.ww)]) } ?? .null),
            ("thresholds", .array(thresholds.map { .number($0) })),
            ("points", .array(points)),
            ("measured", .array(measured)),
        ] + (recallFigures.map { f in [("sampled_blocks", .int(f.first?.sampled ?? 0)), ("total_blocks", .int(blocks.count))] } ?? []))
    }

    /// The table: one row per threshold (all heads averaged), then the measured points.
    public func text(inputName: String, blocks: BlockGrid) -> String {
        var lines: [String] = []
        lines.append("input      \(inputName)")
        lines.append("block      \(blocks.block) -> block grid \(blocks), N = \(blocks.count), \(heads) heads, STA \(sta.map(\.description) ?? "off")")
        lines.append("")
        var header = "   thr   density   mass kept   speed-up (1/density)"
        if recall != nil { header += "   recall" }
        if error != nil { header += "   rel. L2 error" }
        lines.append(header)
        let avgDensity = overallDensity, avgMass = ThresholdSweep.averaged(massKept)
        let avgRecall = recall.map(ThresholdSweep.averaged), avgError = overallError
        for i in thresholds.indices {
            var line = pad(fixed(thresholds[i], 2), 6) + pad(percent(avgDensity[i]), 10) + pad(fixed(avgMass[i], 4), 12)
                + pad(fixed(1 / avgDensity[i], 2) + "x", 23)
            if let f = recallFigures?[i] {
                line += "   " + recallText(f.overall)
            } else if let avgRecall {
                line += pad(fixed(avgRecall[i], 4), 9)
            }
            if let avgError { line += pad(String(format: "%.3e", avgError[i]), 16) }
            lines.append(line)
        }
        if let f = recallFigures?.first, let k = f.sampled {
            lines.append("recall estimated from \(k) of \(f.total) query blocks per head (stratified by frame), +- the 95% interval's half-width")
        }
        if !measured.isEmpty {
            lines.append("")
            lines.append("measured (kernel medians, all heads)")
            lines.append("   thr   sparse ms   dense ms   speed-up   predicted   rel. L2 error")
            for m in measured {
                let d = m.density
                lines.append(pad(fixed(m.threshold, 2), 6) + pad(fixed(m.sparseMs, 2), 12) + pad(fixed(m.denseMs, 2), 11)
                             + pad(fixed(m.speedUp, 2) + "x", 11) + pad(d.isFinite ? fixed(1 / d, 2) + "x" : "-", 12)
                             + pad(String(format: "%.3e", m.error), 16))
            }
        }
        return lines.joined(separator: "\n")
    }
}
