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
