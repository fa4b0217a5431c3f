/// The statistics of a mask on a block grid with partial edge blocks (`EdgeMode.pad`),
/// counted over real tokens: a kept block pair `(a, b)` stands for `count_a * count_b`
/// query-key token pairs, so density is the share of the `S^2` token pairs attention
/// computes (its FLOPs exactly), mass kept weighs each query block's row by
/// `count_a / S`, and frame coverage divides the kept token pairs of two frame slabs by
/// their tokens' product. On a uniform block grid these equal the block counts' figures.
extension MaskStatistics {
    /// - Complexity: O(heads * N^2), rows in parallel.
    static func overRealTokens(kept: [UInt8], map: PooledMap, margin: [Double], firstHead: Int) -> MaskStatistics {
        let blocks = map.blocks, n = map.n, heads = kept.count / max(n * n, 1)
        let tb = blocks.tb, perSlab = blocks.blocksPerSlab
        let counts = blocks.blockTokenCounts().map(Double.init)
        // Per row: kept blocks, kept key tokens per key slab, kept probability.
        var rowBlocks = [Int](repeating: 0, count: heads * n)
        var rowSlab = [Double](repeating: 0, count: heads * n * tb)
        var rowMass = [Double](repeating: 0, count: heads * n)
        kept.withUnsafeBufferPointer { k in
            map.probs.withUnsafeBufferPointer { p in
                rowBlocks.withUnsafeMutableBufferPointer { rb in
                    rowSlab.withUnsafeMutableBufferPointer { rs in
                        rowMass.withUnsafeMutableBufferPointer { rm in
                            let chunks = Parallel.chunks(heads * n, minChunk: 16)
                            Parallel.forEach(chunks.count) { item in
                                for r in chunks[item] {
                                    let row = k.baseAddress! + r * n, probs = p.baseAddress! + (firstHead * n + r) * n
                                    var c = 0, m = 0.0
                                    for b in 0..<n where row[b] != 0 {
                                        c += 1
                                        m += probs[b]
                                        rs[r * tb + b / perSlab] += counts[b]
                                    }
                                    rb[r] = c
                                    rm[r] = m
                                }
                            }
                        }
                    }
                }
            }
        }
        let s = Double(blocks.keptTokens)
        let slabTokens = (0..<tb).map { Double(blocks.tokens(inSlab: $0)) }
        var keptBlocks = [Int](repeating: 0, count: heads)
        var density = [Double](repeating: 0, count: heads)
        var mass = [Double](repeating: 0, count: heads)
        var coverage = [Double](repeating: 0, count: heads * tb * tb)
        for h in 0..<heads {
            var pairs = 0.0, m = 0.0, total = 0
            for a in 0..<n {
                let r = h * n + a, ta = a / perSlab
                total += rowBlocks[r]
                m += rowMass[r] * counts[a] / s
                for sb in 0..<tb {
                    let tokenPairs = counts[a] * rowSlab[r * tb + sb]
                    pairs += tokenPairs
                    coverage[(h * tb + ta) * tb + sb] += tokenPairs
                }
            }
            for ta in 0..<tb {
                for sb in 0..<tb { coverage[(h * tb + ta) * tb + sb] /= slabTokens[ta] * slabTokens[sb] }
            }
            keptBlocks[h] = total
            density[h] = pairs / (s * s)
            mass[h] = m
        }
        return MaskStatistics(keptBlocks: keptBlocks, density: density,
                              overallDensity: density.reduce(0, +) / Double(max(heads, 1)),
                              massKept: mass, frameCoverage: coverage,
                              ambiguousRows: margin.filter { $0 < BlockMask.ambiguousMargin }.count,
                              slabs: tb, overRealTokens: true)
    }
}
