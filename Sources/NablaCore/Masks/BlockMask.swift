/// The per-row choices of the cut: the threshold and the optional STA window.
public struct MaskSettings: Hashable, Sendable, CustomStringConvertible {
    /// Fraction of each row's pooled mass to keep, in `[0, 1]`.
    public var threshold: Double
    /// Sliding-tile window OR-ed into every head's mask, or `nil`.
    public var sta: STAWindow?

    public init(threshold: Double, sta: STAWindow? = nil) {
        precondition((0...1).contains(threshold), "threshold must be in [0, 1]")
        self.threshold = threshold
        self.sta = sta
    }

    /// `"thr 0.90, STA 11x3x3"` (or `STA off`).
    public var description: String { "thr \(fixed(threshold, 2)), STA \(sta.map(\.description) ?? "off")" }
}

/// Which key blocks every query block keeps, for every head (NABLA.md steps 3 and 4),
/// with the statistics derived from it.
///
/// Layout: `kept` is `[heads, N, N]` (1 kept, 0 dropped), rows are query blocks and
/// columns key blocks, both numbered raster over the block grid.
public struct BlockMask: Sendable {
    public let blocks: BlockGrid
    public let heads: Int
    public let settings: MaskSettings
    public let kept: [UInt8]
    /// `[heads, N]`: distance of the nearest running sum (last excluded) to `1 - thr`.
    /// Rows below `BlockMask.ambiguousMargin` may legitimately differ between correct
    /// implementations.
    public let margin: [Double]
    public let statistics: MaskStatistics
    /// Wall times of `cut`, `sta` and `stats`.
    public let times: StageTimes

    /// Margins below this are within float rounding of the cut (NABLA.md, Precision).
    public static let ambiguousMargin = 1e-5

    public var n: Int { blocks.count }

    @inlinable public func isKept(head h: Int, query a: Int, key b: Int) -> Bool {
        kept[(h * n + a) * n + b] != 0
    }

    /// FlexAttention `BlockMask.from_kv_blocks` rows (NABLA.md step 5): `numBlocks[h, a]`
    /// kept count of row `a`; `indices[h, a, :]` kept key blocks ascending, then the others
    /// ascending. Shapes `[heads, N]` and `[heads, N, N]`.
    /// - Complexity: O(heads * N^2).
    public func kvRows() -> (numBlocks: [Int32], indices: [Int32]) {
        let n = self.n
        var num = [Int32](repeating: 0, count: heads * n)
        var idx = [Int32](repeating: 0, count: heads * n * n)
        kept.withUnsafeBufferPointer { m in
            num.withUnsafeMutableBufferPointer { numP in
                idx.withUnsafeMutableBufferPointer { idxP in
                    let rows = Parallel.chunks(heads * n, minChunk: 16)
                    Parallel.forEach(rows.count) { item in
                        let rest = UnsafeMutablePointer<Int32>.allocate(capacity: n)
                        defer { rest.deallocate() }
                        for r in rows[item] {
                            let row = m.baseAddress! + r * n
                            let out = idxP.baseAddress! + r * n
                            // Branch-free compaction: every index is written to both lists,
                            // and only the list it belongs to advances.
                            var kept = 0, dropped = 0
                            for b in 0..<n {
                                let k = Int(row[b] & 1)
                                out[kept] = Int32(truncatingIfNeeded: b)
                                rest[dropped] = Int32(truncatingIfNeeded: b)
                                kept += k
                                dropped += 1 - k
                            }
                            numP[r] = Int32(truncatingIfNeeded: kept)
                            (out + kept).update(from: rest, count: dropped)
                        }
                    }
                }
            }
        }
        return (num, idx)
    }
}

extension PooledMap {
    /// Cuts every head's rows at `settings.threshold` and ORs the STA window: keeps, per
    /// row, the key blocks whose ascending running sum is `>= 1 - thr` (the largest block
    /// always), from the cached sorted rows. No pooling or multiplication is repeated.
    /// - Complexity: O(heads * N^2) to write the mask and statistics; the cut itself is a
    ///   binary search per row.
    public func cut(_ settings: MaskSettings) -> BlockMask {
        let n = self.n, heads = self.heads
        var times = StageTimes()
        var kept = [UInt8](repeating: 0, count: heads * n * n)
        var margin = [Double](repeating: .infinity, count: heads * n)
        let cutAt = 1.0 - settings.threshold
        times.measure("cut") {
            let chunks = Parallel.chunks(heads * n, minChunk: 16)
            kept.withUnsafeMutableBufferPointer { keptP in
                margin.withUnsafeMutableBufferPointer { marginP in
                    ascending.withUnsafeBufferPointer { asc in
                        cumulative.withUnsafeBufferPointer { cum in
                            Parallel.forEach(chunks.count) { item in
                                for row in chunks[item] {
                                    let c = cum.baseAddress! + row * n
                                    let order = asc.baseAddress! + row * n
                                    let p = firstIndex(in: c, count: n, atLeast: cutAt)
                                    let out = keptP.baseAddress! + row * n
                                    for i in min(p, n - 1)..<n { out[Int(order[i])] = 1 }
                                    // The nearest running sums to the cut sit on either side
                                    // of it; the last (forced) position has no cut to be near.
                                    var m = Double.infinity
                                    if p >= 1, p - 1 <= n - 2 { m = Swift.min(m, abs(c[p - 1] - cutAt)) }
                                    if p <= n - 2 { m = Swift.min(m, abs(c[p] - cutAt)) }
                                    marginP[row] = m
                                }
                            }
                        }
                    }
                }
            }
        }
        if let window = settings.sta {
            times.measure("sta") {
                let pattern = staPattern(blocks, window: window)
                kept.withUnsafeMutableBufferPointer { k in
                    pattern.withUnsafeBufferPointer { s in
                        Parallel.forEach(heads) { h in
                            let base = k.baseAddress! + h * n * n
                            for i in 0..<(n * n) { base[i] |= s[i] }
                        }
                    }
                }
            }
        } else {
            times.measure("sta") {}
        }
        let stats = times.measure("stats") { MaskStatistics(kept: kept, map: self, margin: margin) }
        return BlockMask(blocks: blocks, heads: heads, settings: settings, kept: kept, margin: margin,
                         statistics: stats, times: times)
    }
}

/// The first `i` with `c[i] >= x` in non-decreasing `c[0..<count]`, or `count`.
@inline(__always)
func firstIndex(in c: UnsafePointer<Double>, count: Int, atLeast x: Double) -> Int {
    var lo = 0, hi = count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if c[mid] >= x { hi = mid } else { lo = mid + 1 }
    }
    return lo
}

/// The sliding-tile mask on the block grid, `[N, N]`: block pair `(a, b)` is in when
/// `|dt| <= wt/2`, `|di| <= wh/2` and `|dj| <= ww/2` (integer division; windows in blocks,
/// truncated at the borders, shared by all heads). NABLA.md step 4.
/// - Complexity: O(N^2).
public func staPattern(_ blocks: BlockGrid, window: STAWindow) -> [UInt8] {
    let n = blocks.count
    let rt = window.wt / 2, rh = window.wh / 2, rw = window.ww / 2
    var out = [UInt8](repeating: 0, count: n * n)
    out.withUnsafeMutableBufferPointer { o in
        for a in 0..<n {
            let (ta, ia, ja) = blocks.coordinates(of: a)
            let row = o.baseAddress! + a * n
            // Visit only the window around block a, clipped to the grid.
            for t in max(0, ta - rt)...min(blocks.tb - 1, ta + rt) {
                for i in max(0, ia - rh)...min(blocks.hb - 1, ia + rh) {
                    let base = (t * blocks.hb + i) * blocks.wb
                    for j in max(0, ja - rw)...min(blocks.wb - 1, ja + rw) { row[base + j] = 1 }
                }
            }
        }
    }
    return out
}
