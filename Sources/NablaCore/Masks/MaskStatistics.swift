/// What a mask costs and keeps (NABLA.md, "What to derive from a mask").
public struct MaskStatistics: Sendable, Equatable {
    /// Kept blocks per head.
    public let keptBlocks: [Int]
    /// Kept blocks / `N^2` per head; attention FLOPs scale with it exactly.
    public let density: [Double]
    /// Kept blocks / `heads * N^2`.
    public let overallDensity: Double
    /// Sum of the pooled probabilities over kept blocks / `N`, per head.
    public let massKept: [Double]
    /// `[heads, Tb, Tb]`: fraction of (query block in frame slab a, key block in frame
    /// slab b) pairs kept.
    public let frameCoverage: [Double]
    /// Rows whose cut lies within `BlockMask.ambiguousMargin` of a running sum.
    public let ambiguousRows: Int

    /// Frame slabs `Tb` of the block grid.
    public let slabs: Int

    /// `frameCoverage[h, a, b]`.
    public func coverage(head h: Int, querySlab a: Int, keySlab b: Int) -> Double {
        frameCoverage[(h * slabs + a) * slabs + b]
    }

    /// The statistics of `kept` (`[heads, N, N]`), whose head 0 is map head `firstHead`.
    /// - Complexity: O(heads * N^2), heads in parallel.
    init(kept: [UInt8], map: PooledMap, margin: [Double], firstHead: Int = 0) {
        let n = map.n, heads = kept.count / max(n * n, 1)
        let tb = map.blocks.tb, perSlab = map.blocks.blocksPerSlab
        var keptBlocks = [Int](repeating: 0, count: heads)
        var mass = [Double](repeating: 0, count: heads)
        var coverage = [Double](repeating: 0, count: heads * tb * tb)
        kept.withUnsafeBufferPointer { k in
            map.probs.withUnsafeBufferPointer { p in
                keptBlocks.withUnsafeMutableBufferPointer { kb in
                    mass.withUnsafeMutableBufferPointer { ms in
                        coverage.withUnsafeMutableBufferPointer { cov in
                            Parallel.forEach(heads) { h in
                                var total = 0
                                var m = 0.0
                                let c = cov.baseAddress! + h * tb * tb
                                for a in 0..<n {
                                    let row = k.baseAddress! + (h * n + a) * n
                                    let pr = p.baseAddress! + ((firstHead + h) * n + a) * n
                                    let ta = a / perSlab
                                    for s in 0..<tb {
                                        // Branch-free (kept entries are 0 or 1); adding 0 for a
                                        // dropped block leaves the sequential sum unchanged.
                                        var count = 0
                                        for b in (s * perSlab)..<((s + 1) * perSlab) {
                                            let k = row[b]
                                            count &+= Int(k)
                                            m += k != 0 ? pr[b] : 0
                                        }
                                        c[ta * tb + s] += Double(count)
                                        total += count
                                    }
                                }
                                let pairs = Double(perSlab * perSlab)
                                for i in 0..<(tb * tb) { c[i] /= pairs }
                                kb[h] = total
                                ms[h] = m / Double(n)
                            }
                        }
                    }
                }
            }
        }
        let cells = Double(n * n)
        self.keptBlocks = keptBlocks
        self.density = keptBlocks.map { Double($0) / cells }
        self.overallDensity = Double(keptBlocks.reduce(0, +)) / Double(max(heads, 1) * n * n)
        self.massKept = mass
        self.frameCoverage = coverage
        self.ambiguousRows = margin.filter { $0 < BlockMask.ambiguousMargin }.count
        self.slabs = tb
    }

    /// The statistics of heads computed apart (one `MaskStatistics` per group of heads,
    /// in head order), as if computed together.
    init(concatenating parts: [MaskStatistics], n: Int) {
        precondition(!parts.isEmpty, "at least one part")
        keptBlocks = parts.flatMap(\.keptBlocks)
        density = parts.flatMap(\.density)
        massKept = parts.flatMap(\.massKept)
        frameCoverage = parts.flatMap(\.frameCoverage)
        ambiguousRows = parts.reduce(0) { $0 + $1.ambiguousRows }
        slabs = parts[0].slabs
        overallDensity = Double(keptBlocks.reduce(0, +)) / Double(max(keptBlocks.count, 1) * n * n)
    }
}
