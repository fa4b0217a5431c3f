import Foundation
import Testing
@testable import NablaCore
import NablaTestSupport

/// The sampled true block mass (`SampledBlockMass`): one sample estimates the recall of
/// every mask on the grid. Checked against the full true-mass run, the naive softmax of
/// NablaTestSupport, `AttentionEstimator` on the same sample, and by interval coverage.
@Suite("sampled block mass")
struct SampledBlockMassTests {
    /// Masks of `map` at thresholds spanning low to high density, with and without STA.
    static func masks(_ map: PooledMap) -> [KeptKeyBlocks] {
        [0.5, 0.7, 0.9].map { KeptKeyBlocks(map.cut(MaskSettings(threshold: $0, sta: nil))) }
            + [KeptKeyBlocks(map.cut(MaskSettings(threshold: 0.6, sta: STAWindow(wt: 1, wh: 3, ww: 3))))]
    }

    static func fixture(edge: Bool) throws -> (QKInput, BlockGrid, PooledMap) {
        let grid = edge ? TokenGrid(t: 4, h: 18, w: 18) : TokenGrid(t: 4, h: 16, w: 16)
        let qk = randomInput(grid: grid, heads: 3, headDim: 16, seed: 21, sharpness: 2)
        var input = QKInput(name: "random", q: qk.q, k: qk.k, grid: grid, order: .raster)
        if edge { input.edge = .pad }
        let block = BlockShape(bt: 1, bh: 4, bw: 4)
        let blocks = try input.blockGrid(block)
        #expect(blocks.isUniform == !edge)
        return (input, blocks, try #require(try PooledMap.compute(input, block: block)))
    }

    @Test("every block sampled: each mask's recall equals the full true mass's, in one group or head by head", arguments: [false, true])
    func exactWhenComplete(edge: Bool) throws {
        let (input, blocks, map) = try Self.fixture(edge: edge)
        let full = try AttentionOperands(input: input, blocks: blocks).trueBlockMass()
        let whole = try SampledBlockMass(input: input, blocks: blocks, seed: 4)
        let byHead = try SampledBlockMass(input: input, blocks: blocks, seed: 4, packBytes: 1)
        #expect(try whole.advance(to: 10_000) && byHead.advance(to: 10_000))
        #expect(whole.done == blocks.count)
        for kept in Self.masks(map) {
            let exact = full.recall(of: kept)
            let a = whole.recall(of: kept), b = byHead.recall(of: kept)
            for slot in 0..<3 {
                #expect(abs(a[slot].value - exact.recall(slot: slot)) < 1e-12)
                #expect(a[slot].halfWidth < 1e-12)
                #expect(a[slot] == b[slot])
            }
            let mean = (0..<3).map { exact.recall(slot: $0) }.reduce(0, +) / 3
            #expect(abs(whole.overallRecall(of: kept).value - mean) < 1e-12)
            #expect(mean < 0.99, "the fixture's masks must lose mass")
        }
    }

    @Test("on partial edge blocks: the naive softmax's recall, a mean over real query tokens")
    func naiveOnEdgeBlocks() throws {
        let (input, blocks, map) = try Self.fixture(edge: true)
        let sampled = try SampledBlockMass(input: input, blocks: blocks, seed: 1)
        try sampled.advance(to: blocks.count)
        let partition = BlockPartition(grid: input.grid, block: blocks.block, edge: .pad)
        let kept = KeptKeyBlocks(map.cut(MaskSettings(threshold: 0.7, sta: nil)))
        let got = sampled.recall(of: kept)
        for h in 0..<3 {
            let naive = NaiveAttention(input, head: h, partition: partition)
            let row = { (a: Int) in Set((0..<Int(kept.count[h * kept.n + a])).map { Int(kept.indices[(h * kept.n + a) * kept.n + $0]) }) }
            let rows = (0..<kept.n).map(row)
            let want = naive.recall { a, b in rows[a].contains(b) }
            #expect(abs(got[h].value - want) < 1e-5, "head \(h): \(got[h].value) vs \(want)")
        }
    }

    @Test("the same sample as AttentionEstimator gives the same recall and interval")
    func agreesWithEstimator() throws {
        let (input, blocks, map) = try Self.fixture(edge: true)
        let kept = KeptKeyBlocks(map.cut(MaskSettings(threshold: 0.7, sta: nil)))
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let estimator = try AttentionEstimator(operands: ops, kept: kept, error: false, seed: 9)
        estimator.advance(to: 20)
        let sampled = try SampledBlockMass(input: input, blocks: blocks, seed: 9)
        try sampled.advance(to: 20)
        for (e, s) in zip(estimator.estimates, sampled.recall(of: kept)) {
            #expect(abs(e.recall.value - s.value) < 1e-12)
            let (x, y) = (try #require(e.recall.ci95), try #require(s.ci95))
            #expect(abs(x.lowerBound - y.lowerBound) < 1e-12 && abs(x.upperBound - y.upperBound) < 1e-12)
        }
    }

    @Test("the 95% intervals cover the exact recall in at least 93 of 100 seeds (all heads: every mask; per head: pooled)")
    func coverage() throws {
        let (input, blocks, map) = try Self.fixture(edge: false)
        let full = try AttentionOperands(input: input, blocks: blocks).trueBlockMass()
        let masks = Self.masks(map)
        var covered = [Int](repeating: 0, count: masks.count * 3), overall = [Int](repeating: 0, count: masks.count)
        for seed in 0..<100 {
            let sampled = try SampledBlockMass(input: input, blocks: blocks, seed: UInt64(seed))
            try sampled.advance(to: 32)
            for (m, kept) in masks.enumerated() {
                let exact = full.recall(of: kept)
                for (slot, e) in sampled.recall(of: kept).enumerated() where try #require(e.ci95).contains(exact.recall(slot: slot)) {
                    covered[m * 3 + slot] += 1
                }
                let mean = (0..<3).map { exact.recall(slot: $0) }.reduce(0, +) / 3
                if try #require(sampled.overallRecall(of: kept).ci95).contains(mean) { overall[m] += 1 }
            }
        }
        // Twelve intervals per seed (4 masks x 3 heads): each near its nominal 95 of 100,
        // so one of twelve can fall a little below 93 by chance; their pool cannot.
        #expect(covered.reduce(0, +) >= 93 * covered.count, "per head: covered \(covered) of 100")
        #expect(covered.allSatisfy { $0 >= 88 }, "per head: covered \(covered) of 100")
        #expect(overall.allSatisfy { $0 >= 93 }, "all heads: covered \(overall) of 100")
    }

    @Test("auto: stops once every interval is within the half-width; cancel keeps what was done")
    func autoAndCancel() throws {
        let (input, blocks, map) = try Self.fixture(edge: false)
        let masks = Self.masks(map)
        let sampled = try SampledBlockMass(input: input, blocks: blocks, seed: 2)
        #expect(try sampled.advanceUntil(halfWidth: 0.02, of: masks))
        #expect(sampled.done < blocks.count, "this fixture reaches +-0.02 before every block")
        for kept in masks { #expect(sampled.recall(of: kept).allSatisfy { $0.halfWidth <= 0.02 }) }
        let before = sampled.done
        #expect(try !sampled.advance(to: blocks.count, isCancelled: { true }))
        #expect(sampled.done == before)
    }

    @Test("joint text tokens and heads out of range are refused")
    func refusals() throws {
        let (input, blocks, _) = try Self.fixture(edge: false)
        #expect(throws: NablaError.self) { try SampledBlockMass(input: input, blocks: blocks, heads: [3]) }
    }
}
