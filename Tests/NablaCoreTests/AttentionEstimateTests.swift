import Foundation
import Testing
@testable import NablaCore
import NablaTestSupport

/// Sampled recall and error estimates (`AttentionEstimator`) against the exact figures of
/// the full kernel runs, and the stratified estimator against formulas written out here.
@Suite("attention estimates")
struct AttentionEstimateTests {
    /// Two heads with V on a 4x16x16 grid (64 blocks of 1x4x4, 16 per frame slab), and a
    /// NABLA mask at threshold 0.7 (recall well below 1 and varying across blocks).
    static func fixture() throws -> (QKInput, BlockGrid, KeptKeyBlocks) {
        let grid = TokenGrid(t: 4, h: 16, w: 16)
        let qk = randomInput(grid: grid, heads: 2, headDim: 16, seed: 5, sharpness: 2)
        var rng = SeededRandom(seed: 77)
        let v = (0..<(2 * grid.tokens * 16)).map { _ in rng.normal() }
        let input = QKInput(name: "random", q: qk.q, k: qk.k, v: HeadTokens(v, heads: 2, tokens: grid.tokens, headDim: 16),
                            grid: grid, order: .raster)
        let block = BlockShape(bt: 1, bh: 4, bw: 4)
        let blocks = try BlockGrid(grid: grid, block: block)
        let map = try #require(try PooledMap.compute(input, block: block))
        return (input, blocks, KeptKeyBlocks(map.cut(MaskSettings(threshold: 0.7, sta: nil))))
    }

    @Test("every block sampled: the figures of the full runs, intervals of width 0")
    func exactWhenComplete() throws {
        let (input, blocks, kept) = try Self.fixture()
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let recall = ops.trueBlockMass().recall(of: kept)
        let error = relativeL2Error(ops.sparse(kept), reference: ops.dense(), heads: 2)
        let estimator = try AttentionEstimator(operands: ops, kept: kept, error: true, seed: 3)
        #expect(estimator.advance(to: 10_000))
        for (slot, e) in estimator.estimates.enumerated() {
            #expect(e.isExact && e.sampled == 64 && e.total == 64)
            #expect(abs(e.recall.value - recall.recall(slot: slot)) < 1e-12)
            #expect(e.recall.ci95 == e.recall.value...e.recall.value)
            #expect(abs(e.oracle.value - recall.oracle(slot: slot)) < 1e-12)
            let l2 = try #require(e.relativeL2Error)
            #expect(abs(l2.value - error.perHead[slot]) < 1e-9 * error.perHead[slot])
            #expect(l2.halfWidth == 0)
            // The mask loses some mass: a test that cannot pass with recall 1 everywhere.
            #expect(e.recall.value < 0.99 && l2.value > 1e-4)
        }
    }

    @Test("the 95% interval covers the exact value in at least 93 of 100 seeds")
    func coverage() throws {
        let (input, blocks, kept) = try Self.fixture()
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let recall = ops.trueBlockMass().recall(of: kept)
        let error = relativeL2Error(ops.sparse(kept), reference: ops.dense(), heads: 2)
        // 16 blocks: 4 per frame slab; 24: 6. The error's ratio estimate needs the larger
        // sample for its interval to hold (at 16 it covers 99 and 91 of 100 here).
        for size in [16, 24] {
            var covered = [0, 0], coveredError = [0, 0], widths = 0.0
            for seed in 0..<100 {
                let estimator = try AttentionEstimator(operands: ops, kept: kept, error: true, seed: UInt64(seed))
                estimator.advance(to: size)
                for (slot, e) in estimator.estimates.enumerated() {
                    let ci = try #require(e.recall.ci95)
                    if ci.contains(recall.recall(slot: slot)) { covered[slot] += 1 }
                    if try #require(e.relativeL2Error?.ci95).contains(error.perHead[slot]) { coveredError[slot] += 1 }
                    widths += e.recall.halfWidth
                }
            }
            #expect(covered.allSatisfy { $0 >= 93 }, "recall covered \(covered) of 100 with \(size) blocks")
            if size >= 24 {
                #expect(coveredError.allSatisfy { $0 >= 93 }, "error covered \(coveredError) of 100 with \(size) blocks")
            }
            // Not trivially wide: on average well under the spread of recall itself.
            #expect(widths / 200 < 0.1, "mean half-width \(widths / 200)")
        }
    }

    @Test("the sample order: a permutation, spread evenly over frame slabs, fixed by the seed")
    func order() throws {
        let blocks = try BlockGrid(grid: TokenGrid(t: 5, h: 12, w: 8), block: BlockShape(bt: 1, bh: 4, bw: 4))
        let a = QueryBlockSample(blocks: blocks, seed: 11)
        #expect(a.order.sorted() == Array(0..<blocks.count))
        #expect(a == QueryBlockSample(blocks: blocks, seed: 11))
        #expect(a.order != QueryBlockSample(blocks: blocks, seed: 12).order)
        for k in 0...blocks.count {
            var perSlab = [Int](repeating: 0, count: blocks.tb)
            for b in a.order.prefix(k) { perSlab[b / blocks.blocksPerSlab] += 1 }
            #expect(perSlab.max()! - perSlab.min()! <= 1, "prefix \(k): \(perSlab)")
        }
    }

    @Test("the stratified mean and ratio against the formulas written out")
    func formulas() throws {
        // Two strata of 10 and 30 units; samples of 3 and 4.
        let y1 = [0.2, 0.5, 0.8], y2 = [0.9, 1.0, 0.7, 0.6]
        let m = StratifiedEstimate.mean(population: [10, 30], samples: [y1, y2])
        let w1 = 0.25, w2 = 0.75
        let mean1 = 0.5, mean2 = 0.8
        #expect(abs(m.value - (w1 * mean1 + w2 * mean2)) < 1e-15)
        let s1 = (0.09 + 0 + 0.09) / 2, s2 = (0.01 + 0.04 + 0.01 + 0.04) / 3
        let a1 = w1 * w1 * (1 - 0.3) * s1 / 3, a2 = w2 * w2 * (1 - 4.0 / 30) * s2 / 4
        let df = (a1 + a2) * (a1 + a2) / (a1 * a1 / 2 + a2 * a2 / 3)
        #expect(df > 4 && df < 5)   // Satterthwaite: 4.54 (NumPy); t with 4 degrees of freedom: 2.7764
        let half = 2.7764 * (a1 + a2).squareRoot()
        let ci = try #require(m.ci95)
        #expect(abs(ci.lowerBound - (m.value - half)) < 1e-12 && abs(ci.upperBound - (m.value + half)) < 1e-12)
        // The ratio: y = 2x + noise, one stratum of 5, sample of 3.
        let pairs: [(y: Double, x: Double)] = [(2.1, 1), (3.9, 2), (6.3, 3)]
        let r = try #require(StratifiedEstimate.ratio(population: [5], samples: [pairs]))
        #expect(abs(r.value - 12.3 / 6) < 1e-15)
        let d = pairs.map { $0.y - r.value * $0.x }
        let s2d = d.reduce(0) { $0 + $1 * $1 } / 2   // the residuals sum to 0
        let xTotal = 5 * 2.0
        let v = 25 * (1 - 3.0 / 5) * s2d / 3 / (xTotal * xTotal)
        #expect(abs(try #require(r.ci95).upperBound - (r.value + 4.3027 * v.squareRoot())) < 1e-12)
        // Collapsed strata: one unit in each of four strata becomes two groups of two.
        let c = StratifiedEstimate.collapse(population: [4, 4, 4, 4], samples: [[(1, 0)], [(2, 0)], [(3, 0)], [(4, 0)]])
        #expect(c.map(\.population) == [8, 8] && c.map(\.values.count) == [2, 2])
        // One unit: no interval.
        #expect(StratifiedEstimate.mean(population: [4, 4], samples: [[0.5], []]).ci95 == nil)
        // The t quantile: tabulated, then the expansion (scipy: 2.0395134, 1.9839715).
        #expect(abs(StratifiedEstimate.studentT975(31) - 2.0395134) < 1e-6)
        #expect(abs(StratifiedEstimate.studentT975(100.7) - 1.9839715) < 1e-6)
    }
}

/// The estimate on grids with partial edge blocks (`--edge pad`): recall is a mean over real
/// query tokens, so blocks weigh by their token counts.
@Suite("attention estimates over partial edge blocks")
struct AttentionEstimateEdgeTests {
    /// Two heads with V on 4x18x18 (blocks 1x4x4: 5x5 per frame slab, the last row and
    /// column of 2 tokens), a NABLA mask at threshold 0.7.
    static func fixture() throws -> (QKInput, BlockGrid, KeptKeyBlocks) {
        let grid = TokenGrid(t: 4, h: 18, w: 18)
        let qk = randomInput(grid: grid, heads: 2, headDim: 16, seed: 9, sharpness: 2)
        var rng = SeededRandom(seed: 78)
        let v = (0..<(2 * grid.tokens * 16)).map { _ in rng.normal() }
        var input = QKInput(name: "random", q: qk.q, k: qk.k, v: HeadTokens(v, heads: 2, tokens: grid.tokens, headDim: 16),
                            grid: grid, order: .raster)
        input.edge = .pad
        let block = BlockShape(bt: 1, bh: 4, bw: 4)
        let blocks = try input.blockGrid(block)
        #expect(!blocks.isUniform)
        let map = try #require(try PooledMap.compute(input, block: block))
        return (input, blocks, KeptKeyBlocks(map.cut(MaskSettings(threshold: 0.7, sta: nil))))
    }

    @Test("every block sampled: the naive attention's recall over real tokens and the full runs' error")
    func exactWhenComplete() throws {
        let (input, blocks, kept) = try Self.fixture()
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let partition = BlockPartition(grid: input.grid, block: blocks.block, edge: .pad)
        var mask = [UInt8](repeating: 0, count: 2 * kept.n * kept.n)
        for row in 0..<(2 * kept.n) {
            for j in 0..<Int(kept.count[row]) { mask[row * kept.n + Int(kept.indices[row * kept.n + j])] = 1 }
        }
        let naive = NaiveAttention.blockSparse(input, partition, kept: mask)
        let error = relativeL2Error(ops.sparse(kept), reference: ops.dense(), heads: 2)
        let estimator = try AttentionEstimator(operands: ops, kept: kept, error: true, seed: 3)
        #expect(estimator.advance(to: 10_000))
        for (slot, e) in estimator.estimates.enumerated() {
            #expect(e.isExact && e.sampled == blocks.count)
            #expect(abs(e.recall.value - naive.recall[slot]) < 1e-5, "head \(slot): \(e.recall.value) vs \(naive.recall[slot])")
            #expect(e.recall.halfWidth < 1e-12)
            let l2 = try #require(e.relativeL2Error)
            #expect(abs(l2.value - error.perHead[slot]) < 1e-9 * error.perHead[slot])
            #expect(e.recall.value < 0.99)
        }
        // The token-weighted mean differs from the plain mean over blocks here.
        let perBlock = try AttentionEstimator(operands: ops, kept: kept, error: false, seed: 3)
        perBlock.advance(to: 10_000)
        let recall = ops.trueBlockMass().recall(of: kept)
        let plain = recall.perQueryBlock[0..<blocks.count].reduce(0, +) / Double(blocks.count)
        #expect(abs(plain - naive.recall[0]) > 1e-4, "the fixture's edge blocks must weigh differently")
    }

    @Test("the 95% interval covers the exact value in at least 93 of 100 seeds")
    func coverage() throws {
        let (input, blocks, kept) = try Self.fixture()
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let recall = ops.trueBlockMass().recall(of: kept)
        var covered = [0, 0]
        for seed in 0..<100 {
            let estimator = try AttentionEstimator(operands: ops, kept: kept, error: false, seed: UInt64(seed))
            estimator.advance(to: 24)
            for (slot, e) in estimator.estimates.enumerated() where try #require(e.recall.ci95).contains(recall.recall(slot: slot)) {
                covered[slot] += 1
            }
        }
        #expect(covered.allSatisfy { $0 >= 93 }, "recall covered \(covered) of 100")
    }
}
