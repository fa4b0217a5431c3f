import Foundation

/// Several methods' masks on one input and block grid, each over its own parameter range:
/// per setting the density, the pooled mass kept, the recall of the true attention and,
/// where asked (needs V), the relative L2 error of the block-sparse output against dense.
/// Recall against density, one curve per method, is the comparison issue 21 asks for.
///
/// Layout: every per-head array is `[heads]`, heads in the input's order.
public struct MethodSweep: Sendable {
    public struct Row: Sendable {
        /// The swept parameter's value (`SparseMethod.sweptValue`).
        public let parameter: Double
        /// `vsa keep 0.1`: the method and all its parameters.
        public let setting: String
        public let spec: MethodSpec
        public let density: [Double]
        /// Pooled probability kept per row, averaged over rows (NABLA.md, "mass kept").
        public let massKept: [Double]
        /// Mean recall of the true attention over query blocks.
        public let recall: [Double]
        /// The recall with its intervals when estimated from a sample, else `nil`.
        public let recallFigures: RecallFigures?
        public let error: [Double]?
        public let overallError: Double?

        public var meanDensity: Double { mean(density) }
        public var meanMass: Double { mean(massKept) }
        public var meanRecall: Double { mean(recall) }
    }

    public struct Curve: Sendable {
        public let name: String
        /// The swept parameter's name.
        public let parameter: String
        public let isStatic: Bool
        public let rows: [Row]
    }

    public let inputName: String
    public let blocks: BlockGrid
    public let headIndices: [Int]
    public let curves: [Curve]

    /// What a sweep is doing: `method`, `done` of `total` settings over all methods.
    public typealias Progress = @Sendable (_ method: String, _ done: Int, _ total: Int) -> Void

    /// Sweeps `methods` (each its own `sweep(_:)` settings, or `settings` where given for it).
    /// - Throws: `NablaError` from the methods (a stride that does not divide the block),
    ///   `.badArgument` for `error` without V, `.tooLarge` for work that would not fit;
    ///   `CancellationError` when `context.isCancelled` turned true.
    /// - Complexity: the true mass once (`2 D S^2` flops per head), then per setting its
    ///   method's cost and `O(heads * N^2)`; with `error`, dense attention once and one
    ///   block-sparse run per setting.
    ///
    /// With `recallSample`, recall comes from one sample of query blocks
    /// (`SampledBlockMass`, `2 D B S` flops per sampled block and head) instead of the true
    /// mass of every block, with 95% intervals; `auto` samples until NABLA's masks at
    /// thresholds 0.3, 0.6 and 0.9 (the middle of every method's range) are within the
    /// half-width in every head, and the other settings' intervals are reported as they are.
    public init(context: MethodContext, methods: [any SparseMethod.Type], settings: [String: [any SparseMethod]] = [:],
                error: Bool = false, recallSample: RecallSource.Request? = nil, progress: Progress? = nil) throws {
        if error { try MaskQuality.requireValues(context.input) }
        let plans: [(any SparseMethod.Type, [any SparseMethod])] = methods.map { t in
            (t, settings[t.name] ?? t.sweep(context.blocks).map { $0 as any SparseMethod })
        }
        let total = plans.reduce(0) { $0 + $1.1.count }
        guard let map = try context.pooledMap() else { throw CancellationError() }
        let source: RecallSource
        if let recallSample {
            let probes = [0.3, 0.6, 0.9].map { KeptKeyBlocks(map.cut(MaskSettings(threshold: $0, sta: nil))) }
            source = try RecallSource.sample(recallSample, input: context.input, blocks: context.blocks, autoMasks: probes,
                                             isCancelled: context.isCancelled)
        } else {
            guard let mass = try context.trueMass() else { throw CancellationError() }
            source = .exact(mass)
        }
        let ops = error ? try AttentionOperands(input: context.input, blocks: context.blocks) : nil
        var dense: [Float]?
        if let ops {
            guard case .output(let out)? = ops.compute(.dense, isCancelled: context.isCancelled) else { throw CancellationError() }
            dense = out
        }
        let heads = context.heads, n = context.n
        var done = 0
        var curves: [Curve] = []
        for (t, list) in plans {
            var rows: [Row] = []
            for method in list {
                progress?(t.name, done, total)
                guard let kept = try method.kept(context) else { throw CancellationError() }
                let recall = source.recall(of: KeptKeyBlocks(kept: kept, heads: heads, n: n))
                var err: (perHead: [Double], overall: Double)?
                if let ops, let dense {
                    guard case .output(let out)? = ops.compute(.sparse(KeptKeyBlocks(kept: kept, heads: heads, n: n)),
                                                              isCancelled: context.isCancelled) else { throw CancellationError() }
                    err = relativeL2Error(out, reference: dense, heads: heads)
                }
                rows.append(Row(parameter: method.sweptValue, setting: method.description, spec: MethodSpec(method),
                                density: Self.density(kept, heads: heads, blocks: context.blocks), massKept: Self.pooledMass(kept, map: map),
                                recall: recall.values, recallFigures: recall.sampled == nil ? nil : recall,
                                error: err?.perHead, overallError: err?.overall))
                done += 1
            }
            curves.append(Curve(name: t.name, parameter: t.parameters.first?.name ?? "", isStatic: t.isStatic, rows: rows))
        }
        inputName = context.input.name
        blocks = context.blocks
        headIndices = context.input.headIndices
        self.curves = curves
    }

    /// Kept blocks / `N^2` per head; on a grid with partial edge blocks, kept real token
    /// pairs / `S^2` (`KeptKeyBlocks.density(head:)`), as every other density of nabla.
    public static func density(_ kept: [UInt8], heads: Int, blocks: BlockGrid) -> [Double] {
        guard !blocks.isUniform else { return density(kept, heads: heads, n: blocks.count) }
        let rows = KeptKeyBlocks(kept: kept, heads: heads, blocks: blocks)
        return (0..<heads).map { rows.density(head: $0) }
    }

    /// Kept blocks / `N^2` per head.
    public static func density(_ kept: [UInt8], heads: Int, n: Int) -> [Double] {
        (0..<heads).map { h in Double(kept[(h * n * n)..<((h + 1) * n * n)].reduce(0) { $0 + Int($1) }) / Double(n * n) }
    }

    /// Pooled probability on kept blocks / `N` per head.
    static func pooledMass(_ kept: [UInt8], map: PooledMap) -> [Double] {
        let n = map.n
        return (0..<map.heads).map { h in
            var s = 0.0
            for i in (h * n * n)..<((h + 1) * n * n) where kept[i] != 0 { s += map.probs[i] }
            return s / Double(n)
        }
    }

    /// The recall of curve `c` at `density` for head slot `head`, by linear interpolation
    /// between its rows ordered by that head's density; `nil` outside the densities the
    /// curve reaches. With `head` `nil`: the mean over heads of each head's recall at that
    /// density (every head at the same density), `nil` when a head's curve does not reach it.
    public func recall(curve c: Int, at density: Double, head: Int? = nil) -> Double? {
        guard let head else {
            let each = headIndices.indices.map { recall(curve: c, at: density, head: $0) }
            guard each.allSatisfy({ $0 != nil }), !each.isEmpty else { return nil }
            return each.reduce(0) { $0 + $1! } / Double(each.count)
        }
        let points = curves[c].rows.map { ($0.density[head], $0.recall[head]) }.sorted { $0.0 < $1.0 }
        guard let first = points.first, let last = points.last, density >= first.0 - 1e-12, density <= last.0 + 1e-12 else { return nil }
        for (p, q) in zip(points, points.dropFirst()) where density <= q.0 {
            if q.0 - p.0 < 1e-15 { return max(p.1, q.1) }
            return p.1 + (q.1 - p.1) * (density - p.0) / (q.0 - p.0)
        }
        return last.1
    }

    /// One JSON object: `input`, `block`, `n`, `num_heads` and `methods`, per method
    /// `name`, `parameter` (its name), `static` and `rows` (per setting `parameter`,
    /// `setting`, `density`, `mass_kept`, `recall`, `relative_l2_error` (`null` without
    /// `--error`) and `heads` with the same per head).
    public func json() -> JSON {
        let methods: [JSON] = curves.map { c in
            let rows: [JSON] = c.rows.map { r in
                let heads: [JSON] = headIndices.indices.map { h in
                    .object([("head", .int(headIndices[h])), ("density", .number(r.density[h])), ("mass_kept", .number(r.massKept[h])),
                             ("recall", .number(r.recall[h]))] + ciFields(r.recallFigures?.perHead[h])
                            + [("relative_l2_error", r.error.map { .number($0[h]) } ?? .null)])
                }
                return .object([("parameter", .number(r.parameter)), ("setting", .string(r.setting)),
                                ("density", .number(r.meanDensity)), ("mass_kept", .number(r.meanMass)),
                                ("recall", .number(r.meanRecall))] + ciFields(r.recallFigures?.overall)
                                + [("relative_l2_error", r.overallError.map { .number($0) } ?? .null), ("heads", .array(heads))])
            }
            return .object([("name", .string(c.name)), ("parameter", .string(c.parameter)), ("static", .bool(c.isStatic)),
                            ("rows", .array(rows))])
        }
        return .object([("input", .string(inputName)), ("block", JSON.triple(blocks.block.bt, blocks.block.bh, blocks.block.bw)),
                        ("n", .int(blocks.count)), ("num_heads", .int(headIndices.count)), ("methods", .array(methods))]
                       + (sampledBlocks.map { [("sampled_blocks", .int($0)), ("total_blocks", .int(blocks.count))] } ?? []))
    }

    /// The table: per method, one row per setting (all heads averaged), then the recall of
    /// every method at 10% and 20% density in every head (`recall(curve:at:)`).
    public func text() -> String {
        var lines = ["input      \(Shown.path(inputName))",
                     "block      \(blocks.block) -> block grid \(blocks), N = \(blocks.count), \(headIndices.count) heads", ""]
        let withError = curves.contains { $0.rows.contains { $0.overallError != nil } }
        var header = "method      parameter          density   mass kept   recall"
        if withError { header += "   rel. L2 error" }
        lines.append(header)
        for c in curves {
            for r in c.rows {
                var line = c.name.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
                    + "\(c.parameter) \(parameterText(r))".padding(toLength: 17, withPad: " ", startingAt: 0)
                    + pad(percent(r.meanDensity), 8) + pad(fixed(r.meanMass, 4), 12)
                    + (r.recallFigures.map { "   " + recallText($0.overall) } ?? pad(fixed(r.meanRecall, 4), 9))
                if withError { line += pad(r.overallError.map { String(format: "%.3e", $0) } ?? "-", 16) }
                lines.append(line)
            }
        }
        if let k = sampledBlocks {
            lines.append("recall estimated from \(k) of \(blocks.count) query blocks per head (stratified by frame), +- the 95% interval's half-width")
        }
        lines.append("")
        lines.append("recall with every head at the density (mean over heads; - where a method does not reach it)")
        lines.append("               " + curves.map { $0.name.padding(toLength: 11, withPad: " ", startingAt: 0) }.joined())
        for d in [0.1, 0.2] {
            lines.append(pad(percent(d), 6) + " density " + curves.indices.map { c in
                (recall(curve: c, at: d).map { fixed($0, 4) } ?? "-").padding(toLength: 11, withPad: " ", startingAt: 0)
            }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// Query blocks per head the recall was estimated from, `nil` when exact.
    public var sampledBlocks: Int? {
        curves.lazy.flatMap(\.rows).compactMap { $0.recallFigures?.sampled }.first
    }

    private func parameterText(_ r: Row) -> String {
        if r.setting.hasPrefix("sta ") { return String(r.setting.dropFirst(8)) }
        return String(format: "%g", r.parameter)
    }
}

private func mean(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count) }
