extension PooledMap {
    /// Cuts every head's rows at `settings.threshold` and ORs the STA window: keeps, per
    /// row, the key blocks whose ascending running sum is `>= 1 - thr` (the largest block
    /// always), selected from the cached probabilities by `ThresholdCut`. No pooling or
    /// multiplication is repeated.
    ///
    /// `heads` picks a range of the map's heads (all by default): the mask then has
    /// `heads.count` heads, the first being map head `heads.lowerBound` (the app cuts the
    /// head on screen first this way, then the others).
    /// - Complexity: O(heads * N^2), rows in parallel.
    public func cut(_ settings: MaskSettings, heads range: Range<Int>? = nil) -> BlockMask {
        let range = range ?? 0..<self.heads
        precondition(range.lowerBound >= 0 && range.upperBound <= self.heads, "heads \(range) outside 0..<\(self.heads)")
        let n = self.n, heads = range.count
        let first = range.lowerBound * n * n
        var times = StageTimes()
        var kept: [UInt8] = []
        var margin = [Double](repeating: .infinity, count: heads * n)
        let cutAt = 1.0 - settings.threshold
        times.measure("cut") {
            // ThresholdCut writes every entry of every row.
            kept = [UInt8].filledLarge(count: heads * n * n) { keptP in
                margin.withUnsafeMutableBufferPointer { marginP in
                    probs.withUnsafeBufferPointer { probsP in
                        ThresholdCut.eachRow(heads * n, n: n) { rowCut, row in
                            marginP[row] = rowCut.cut(probsP.baseAddress! + first + row * n, cutAt: cutAt,
                                                      into: keptP.baseAddress! + row * n)
                        }
                    }
                }
            }
        }
        if let window = settings.sta {
            times.measure("sta") {
                let pattern = staPattern(blocks, window: window)
                // Rows of every head in parallel (one head alone is the common case head by head).
                let chunks = Parallel.chunks(heads * n, minChunk: 64)
                kept.withUnsafeMutableBufferPointer { k in
                    pattern.withUnsafeBufferPointer { s in
                        Parallel.forEach(chunks.count) { item in
                            for r in chunks[item] {
                                let row = k.baseAddress! + r * n, window = s.baseAddress! + (r % n) * n
                                for b in 0..<n { row[b] |= window[b] }
                            }
                        }
                    }
                }
            }
        } else {
            times.measure("sta") {}
        }
        let stats = times.measure("stats") { MaskStatistics(kept: kept, map: self, margin: margin, firstHead: range.lowerBound) }
        return BlockMask(blocks: blocks, heads: heads, settings: settings, kept: kept, margin: margin,
                         statistics: stats, times: times)
    }
}

extension PooledMap {
    /// The cut of every row by a full stable sort and sequential running sums (what the
    /// engine did before `ThresholdCut`): the same kept blocks as `cut(_:)` without STA.
    /// `nabla bench` times it as the same-run baseline of the selection cut.
    /// - Complexity: O(heads * N^2) with a radix sort per row.
    public func cutBySorting(threshold: Double) -> [UInt8] {
        let n = self.n
        var kept = [UInt8](repeating: 0, count: heads * n * n)
        let cutAt = 1.0 - threshold
        kept.withUnsafeMutableBufferPointer { keptP in
            probs.withUnsafeBufferPointer { probsP in
                ThresholdCut.eachRow(heads * n, n: n) { rowCut, row in
                    _ = rowCut.exactCut(probsP.baseAddress! + row * n, cutAt: cutAt, into: keptP.baseAddress! + row * n)
                }
            }
        }
        return kept
    }
}
