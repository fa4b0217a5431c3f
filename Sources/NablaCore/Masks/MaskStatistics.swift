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
    /// Whether the figures count real tokens of partial edge blocks (`overRealTokens`)
    /// rather than blocks (the same figures on a uniform block grid).
    public let overRealTokens: Bool

    init(keptBlocks: [Int], density: [Double], overallDensity: Double, massKept: [Double],
         frameCoverage: [Double], ambiguousRows: Int, slabs: Int, overRealTokens: Bool) {
        self.keptBlocks = keptBlocks
        self.density = density
        self.overallDensity = overallDensity
        self.massKept = massKept
        self.frameCoverage = frameCoverage
        self.ambiguousRows = ambiguousRows
        self.slabs = slabs
        self.overRealTokens = overRealTokens
    }

    /// `frameCoverage[h, a, b]`.
    public func coverage(head h: Int, querySlab a: Int, keySlab b: Int) -> Double {
        frameCoverage[(h * slabs + a) * slabs + b]
    }

    /// Counts and sums `kept` (`[heads, N, N]`, entries 0 or 1) against `map`.
    ///
    /// Rows are processed in parallel: each row's kept mass is summed in eight `Double`
    /// lanes (then the lanes in a fixed order) and its kept blocks counted per key frame
    /// slab, eight entries per population count; each head's figures are then reduced
    /// from the rows in row order, so the result does not depend on the number of
    /// threads. `massKept` is within `(N + N/8 + 3) * 2^-53` relative of the exact sum of
    /// the kept probabilities over `N` (Higham, *Accuracy and Stability of Numerical
    /// Algorithms*, 2nd ed., section 4.2: terms are non-negative); the counts are exact.
    /// Head 0 of `kept` is map head `firstHead` (the app cuts one head at a time).
    /// - Complexity: O(heads * N^2) reads of the mask and the map, rows in parallel.
    init(kept: [UInt8], map: PooledMap, margin: [Double], firstHead: Int = 0) {
        if !map.blocks.isUniform {
            self = Self.overRealTokens(kept: kept, map: map, margin: margin, firstHead: firstHead)
            return
        }
        let n = map.n, heads = kept.count / max(n * n, 1)
        let tb = map.blocks.tb, perSlab = map.blocks.blocksPerSlab
        var rowMass = [Double](repeating: 0, count: heads * n)
        var rowCounts = [Int32](repeating: 0, count: heads * n * tb)
        kept.withUnsafeBufferPointer { k in
            map.probs.withUnsafeBufferPointer { p in
                rowMass.withUnsafeMutableBufferPointer { rm in
                    rowCounts.withUnsafeMutableBufferPointer { rc in
                        let chunks = Parallel.chunks(heads * n, minChunk: 16)
                        Parallel.forEach(chunks.count) { item in
                            for r in chunks[item] {
                                let row = k.baseAddress! + r * n
                                rm[r] = Self.keptMass(row, p.baseAddress! + (firstHead * n + r) * n, n: n)
                                Self.countPerSlab(row, perSlab: perSlab, slabs: tb, into: rc.baseAddress! + r * tb)
                            }
                        }
                    }
                }
            }
        }
        var keptBlocks = [Int](repeating: 0, count: heads)
        var mass = [Double](repeating: 0, count: heads)
        var coverage = [Double](repeating: 0, count: heads * tb * tb)
        let pairs = Double(perSlab * perSlab)
        for h in 0..<heads {
            var total = 0, m = 0.0
            var counts = [Int](repeating: 0, count: tb * tb)
            for a in 0..<n {
                m += rowMass[h * n + a]
                let ta = a / perSlab
                for s in 0..<tb {
                    let c = Int(rowCounts[(h * n + a) * tb + s])
                    counts[ta * tb + s] += c
                    total += c
                }
            }
            for i in 0..<(tb * tb) { coverage[h * tb * tb + i] = Double(counts[i]) / pairs }
            keptBlocks[h] = total
            mass[h] = m / Double(n)
        }
        let cells = Double(n * n)
        self.keptBlocks = keptBlocks
        self.density = keptBlocks.map { Double($0) / cells }
        self.overallDensity = Double(keptBlocks.reduce(0, +)) / Double(max(heads, 1) * n * n)
        self.massKept = mass
        self.frameCoverage = coverage
        self.ambiguousRows = margin.filter { $0 < BlockMask.ambiguousMargin }.count
        self.slabs = tb
        self.overRealTokens = false
    }

    /// The sum of `p[b]` over the kept `b` of one row (`kept[b]` 0 or 1), in eight lanes.
    @inline(__always)
    static func keptMass(_ kept: UnsafePointer<UInt8>, _ p: UnsafePointer<Double>, n: Int) -> Double {
        typealias V = SIMD8<Double>
        var acc = V()
        let kr = UnsafeRawPointer(kept), pr = UnsafeRawPointer(p)
        var b = 0
        while b + 8 <= n {
            // kept is 0 or 1, so the product is the probability or 0, exactly, and one
            // rounding happens in the addition whether or not it is fused. (Unfused on
            // purpose: NablaCore builds for baseline x86-64, where a fused multiply-add
            // is a libm call per lane.)
            let k = V(SIMD8<Int32>(truncatingIfNeeded: kr.loadUnaligned(fromByteOffset: b, as: SIMD8<UInt8>.self)))
            acc += pr.loadUnaligned(fromByteOffset: b * 8, as: V.self) * k
            b += 8
        }
        var tail = V()
        for i in b..<n where kept[i] != 0 { tail[i - b] = p[i] }
        acc += tail
        let a4 = acc.lowHalf + acc.highHalf
        let a2 = a4.lowHalf + a4.highHalf
        return a2[0] + a2[1]
    }

    /// `counts[s]` = kept blocks of one row in key slab `s` (`perSlab` blocks each).
    @inline(__always)
    static func countPerSlab(_ kept: UnsafePointer<UInt8>, perSlab: Int, slabs: Int,
                             into counts: UnsafeMutablePointer<Int32>) {
        let raw = UnsafeRawPointer(kept)
        for s in 0..<slabs {
            var b = s * perSlab
            let end = b + perSlab
            var c = 0
            // Entries are 0 or 1: the set bits of eight of them are their count.
            while b + 8 <= end {
                c &+= raw.loadUnaligned(fromByteOffset: b, as: UInt64.self).nonzeroBitCount
                b += 8
            }
            while b < end {
                c &+= Int(kept[b])
                b += 1
            }
            counts[s] = Int32(truncatingIfNeeded: c)
        }
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
        overRealTokens = parts[0].overRealTokens
        overallDensity = overRealTokens ? density.reduce(0, +) / Double(max(density.count, 1))
            : Double(keptBlocks.reduce(0, +)) / Double(max(keptBlocks.count, 1) * n * n)
    }
}
