import Foundation

/// Two masks of one input compared, as `nabla diff` reports them: each one's density,
/// their agreement (Jaccard over token pairs, and the pairs only one of them keeps) and,
/// when asked, each one's recall of the true attention and output error against dense.
public struct DiffReport: Sendable {
    public let inputName: String
    /// The tensor index of each head (`QKInput.headIndices`), as the reports name them.
    public let headIndices: [Int]
    public let comparison: MaskComparison
    /// Mean recall over query blocks, per head, for A and B (when asked).
    public let recall: (a: [Double], b: [Double])?
    /// Relative L2 error of the sparse output against dense, per head and overall, for A
    /// and B (when asked and V exists).
    public let error: (a: (perHead: [Double], overall: Double), b: (perHead: [Double], overall: Double))?

    /// Makes both masks (a bare `topk` on either side takes the other's density, head by
    /// head) and compares them; `recall` runs the true block mass on each mask's grid,
    /// `error` sparse and dense attention.
    /// - Throws: `NablaError` for a block that does not divide the grid, a mask file that
    ///   does not fit, a bare `topk` on both sides, or `error` without V.
    public init(input: QKInput, a specA: MaskSpec, b specB: MaskSpec, block: BlockShape,
                recall: Bool = false, error: Bool = false) throws {
        let sa = specA.withDefaultBlock(block), sb = specB.withDefaultBlock(block)
        if case .topK(nil) = sa.kind, case .topK(nil) = sb.kind {
            throw NablaError(.badArgument, "mask specs '\(sa)' and '\(sb)': a bare topk takes the other mask's density; give one of them a density (topk=0.2) or another kind")
        }
        if error { try MaskQuality.requireValues(input) }
        var maps: [BlockShape: PooledMap] = [:]
        let a: SpecifiedMask, b: SpecifiedMask
        if case .topK(nil) = sa.kind {
            b = try SpecifiedMask.make(sb, input: input, maps: &maps)
            a = try SpecifiedMask.make(sa, input: input, maps: &maps, otherDensity: b.density)
        } else {
            a = try SpecifiedMask.make(sa, input: input, maps: &maps)
            b = try SpecifiedMask.make(sb, input: input, maps: &maps, otherDensity: a.density)
        }
        inputName = input.name
        headIndices = input.headIndices
        comparison = MaskComparison(a, b)
        // Both masks at once on a shared block grid; else each on its own.
        let quality: [MaskQuality]
        if !recall && !error {
            quality = []
        } else if a.blocks == b.blocks {
            let q = try MaskQuality.measure([a.keptKeyBlocks, b.keptKeyBlocks], input: input, blocks: a.blocks, error: error)!
            quality = [q, q]
        } else {
            quality = [try MaskQuality.measure([a.keptKeyBlocks], input: input, blocks: a.blocks, error: error)!,
                       try MaskQuality.measure([b.keptKeyBlocks], input: input, blocks: b.blocks, error: error)!]
        }
        let ia = 0, ib = a.blocks == b.blocks ? 1 : 0
        self.recall = recall ? (quality[0].recall[ia], quality[1].recall[ib]) : nil
        if error, let ea = quality[0].error?[ia], let eb = quality[1].error?[ib] {
            self.error = (ea, eb)
        } else {
            self.error = nil
        }
    }

    public var heads: Int { comparison.heads }

    /// One JSON object: `a` and `b` (each `spec`, `block`, `density`, `recall`,
    /// `relative_l2_error`), `jaccard`, `only_a`, `only_b`, `both` (token pairs), and
    /// `heads` (per head the same fields).
    public func json() -> JSON {
        let c = comparison
        func side(_ m: SpecifiedMask, _ r: [Double]?, _ e: (perHead: [Double], overall: Double)?) -> JSON {
            .object([("spec", .string(m.spec.description)),
                     ("block", .array([.int(m.blocks.block.bt), .int(m.blocks.block.bh), .int(m.blocks.block.bw)])),
                     ("n", .int(m.n)),
                     ("density", .number(m.overallDensity)),
                     ("recall", r.map { .number($0.reduce(0, +) / Double(max($0.count, 1))) } ?? .null),
                     ("relative_l2_error", e.map { .number($0.overall) } ?? .null)])
        }
        let da = c.a.density, db = c.b.density
        let heads: [JSON] = (0..<self.heads).map { h in
            .object([("head", .int(headIndices[h])),
                     ("density_a", .number(da[h])), ("density_b", .number(db[h])),
                     ("jaccard", .number(c.jaccard(head: h))),
                     ("only_a", .int(c.onlyA[h])), ("only_b", .int(c.onlyB[h])), ("both", .int(c.both[h])),
                     ("recall_a", recall.map { .number($0.a[h]) } ?? .null),
                     ("recall_b", recall.map { .number($0.b[h]) } ?? .null),
                     ("relative_l2_error_a", error.map { .number($0.a.perHead[h]) } ?? .null),
                     ("relative_l2_error_b", error.map { .number($0.b.perHead[h]) } ?? .null)])
        }
        let grid = c.a.blocks.grid
        return .object([
            ("input", .string(inputName)),
            ("grid", .array([.int(grid.t), .int(grid.h), .int(grid.w)])),
            ("num_heads", .int(self.heads)),
            ("a", side(c.a, recall?.a, error?.a)),
            ("b", side(c.b, recall?.b, error?.b)),
            ("jaccard", .number(c.jaccard)),
            ("only_a", .int(c.onlyA.reduce(0, +))),
            ("only_b", .int(c.onlyB.reduce(0, +))),
            ("both", .int(c.both.reduce(0, +))),
            ("heads", .array(heads)),
        ])
    }

    /// A readable table: one row per head and one for all.
    public func text() -> String {
        let c = comparison
        var lines: [String] = []
        lines.append("input      \(inputName)")
        lines.append("A          \(c.a.spec) (block \(c.a.blocks.block), N = \(c.a.n)), density \(percent(c.a.overallDensity))")
        lines.append("B          \(c.b.spec) (block \(c.b.blocks.block), N = \(c.b.n)), density \(percent(c.b.overallDensity))")
        lines.append("compared   on token pairs of grid \(c.a.blocks.grid)")
        lines.append("")
        var header = "head  density A  density B  Jaccard   only A    only B      both"
        if recall != nil { header += "  recall A  recall B" }
        if error != nil { header += "   error A    error B" }
        lines.append(header)
        let da = c.a.density, db = c.b.density
        func share(_ x: Int, _ h: Int?) -> String {
            let total = Double(c.a.blocks.grid.tokens * c.a.blocks.grid.tokens) * Double(h == nil ? heads : 1)
            return percent(Double(x) / total)
        }
        for h in 0..<heads {
            var line = pad(String(headIndices[h]), 4) + pad(percent(da[h]), 11) + pad(percent(db[h]), 11)
                + pad(fixed(c.jaccard(head: h), 4), 9) + pad(share(c.onlyA[h], h), 9) + pad(share(c.onlyB[h], h), 10)
                + pad(share(c.both[h], h), 10)
            if let recall { line += pad(fixed(recall.a[h], 4), 10) + pad(fixed(recall.b[h], 4), 10) }
            if let error { line += pad(String(format: "%.3e", error.a.perHead[h]), 11) + pad(String(format: "%.3e", error.b.perHead[h]), 11) }
            lines.append(line)
        }
        var all = " all" + pad(percent(c.a.overallDensity), 11) + pad(percent(c.b.overallDensity), 11)
            + pad(fixed(c.jaccard, 4), 9) + pad(share(c.onlyA.reduce(0, +), nil), 9)
            + pad(share(c.onlyB.reduce(0, +), nil), 10) + pad(share(c.both.reduce(0, +), nil), 10)
        if let recall {
            all += pad(fixed(recall.a.reduce(0, +) / Double(heads), 4), 10) + pad(fixed(recall.b.reduce(0, +) / Double(heads), 4), 10)
        }
        if let error { all += pad(String(format: "%.3e", error.a.overall), 11) + pad(String(format: "%.3e", error.b.overall), 11) }
        lines.append(all)
        lines.append("")
        lines.append("only A, only B, both: shares of all (query token, key token) pairs")
        return lines.joined(separator: "\n")
    }
}
