import Foundation
import Testing
@testable import NablaCore
import NablaTestSupport

/// A pair's recall as `mask --all --recall [--sample]` and the model view find it
/// (`ModelReport.recall`): exact head by head against the naive softmax, estimated with
/// intervals that cover the exact value, exact when the sample takes every block.
@Suite("model recall")
struct ModelRecallTests {
    static func fixture(edge: Bool = false) throws -> (QKInput, BlockGrid, BlockMask) {
        let grid = edge ? TokenGrid(t: 4, h: 18, w: 18) : TokenGrid(t: 4, h: 16, w: 16)
        let qk = randomInput(grid: grid, heads: 3, headDim: 16, seed: 33, sharpness: 2)
        var input = QKInput(name: "random", q: qk.q, k: qk.k, grid: grid, order: .raster)
        if edge { input.edge = .pad }
        let block = BlockShape(bt: 1, bh: 4, bw: 4)
        let map = try #require(try PooledMap.compute(input, block: block))
        return (input, try input.blockGrid(block), map.cut(MaskSettings(threshold: 0.7, sta: nil)))
    }

    @Test("exact, one head's kernels at a time: the naive softmax's recall (a mean over real query tokens with edge blocks)", arguments: [false, true])
    func exactIsTheNaiveRecall(edge: Bool) throws {
        let (input, blocks, mask) = try Self.fixture(edge: edge)
        var seen: [(Int, Int)] = []
        let figures = try #require(try ModelReport.recall(of: mask, input: input, blocks: blocks, how: .exact,
                                                         progress: { seen.append(($0, $1)) }))
        #expect(figures.sampled == nil && figures.perHead.allSatisfy { $0.ci95 == nil })
        #expect(seen.map(\.0) == [1, 2, 3] && seen.allSatisfy { $0.1 == 3 }, "progress after each head")
        let partition = BlockPartition(grid: input.grid, block: blocks.block, edge: edge ? .pad : .crop)
        for h in 0..<3 {
            let naive = NaiveAttention(input, head: h, partition: partition)
            let want = naive.recall { a, b in mask.isKept(head: h, query: a, key: b) }
            #expect(abs(figures.perHead[h].value - want) < 1e-5, "head \(h): \(figures.perHead[h].value) vs \(want)")
        }
        #expect(figures.values.allSatisfy { $0 < 0.99 }, "the fixture's mask must lose mass")
        let mean = figures.values.reduce(0, +) / 3
        #expect(abs(figures.overall.value - mean) < 1e-15)
    }

    @Test("every block sampled: the exact figures, said as exact (no interval)")
    func completeSampleIsExact() throws {
        let (input, blocks, mask) = try Self.fixture()
        let exact = try #require(try ModelReport.recall(of: mask, input: input, blocks: blocks, how: .exact))
        let all = try #require(try ModelReport.recall(of: mask, input: input, blocks: blocks,
                                                     how: .sampled(RecallSource.Request(size: .blocks(blocks.count), seed: 3))))
        #expect(all.sampled == nil)
        for h in 0..<3 { #expect(abs(all.perHead[h].value - exact.perHead[h].value) < 1e-12 && all.perHead[h].ci95 == nil) }
    }

    @Test("an estimate from 24 of 64 blocks: its 95% intervals cover the exact recall in at least 90% of 40 seeds x 3 heads")
    func estimatesCover() throws {
        let (input, blocks, mask) = try Self.fixture()
        let exact = try #require(try ModelReport.recall(of: mask, input: input, blocks: blocks, how: .exact))
        var covered = 0, total = 0
        for seed in 0..<40 {
            let est = try #require(try ModelReport.recall(of: mask, input: input, blocks: blocks,
                                                         how: .sampled(RecallSource.Request(size: .blocks(24), seed: UInt64(seed)))))
            #expect(est.sampled == 24 && est.total == blocks.count)
            for h in 0..<3 {
                let ci = try #require(est.perHead[h].ci95)
                total += 1
                if ci.contains(exact.perHead[h].value) { covered += 1 }
            }
        }
        #expect(covered * 10 >= total * 9, "\(covered) of \(total) intervals cover the exact recall")
    }

    @Test("auto: every head within the half-width asked, or every block")
    func autoStopsAtTheHalfWidth() throws {
        let (input, blocks, mask) = try Self.fixture()
        let est = try #require(try ModelReport.recall(of: mask, input: input, blocks: blocks,
                                                     how: .sampled(RecallSource.Request(size: .auto(halfWidth: 0.05)))))
        if let k = est.sampled {
            #expect(k < blocks.count && est.perHead.allSatisfy { $0.halfWidth <= 0.05 })
        } else {
            #expect(est.perHead.allSatisfy { $0.ci95 == nil })
        }
    }

    @Test("cancelled: nil, exact or estimated")
    func cancelled() throws {
        let (input, blocks, mask) = try Self.fixture()
        for how in [ModelReport.Recall.exact, .sampled(RecallSource.Request(size: .blocks(24)))] {
            #expect(try ModelReport.recall(of: mask, input: input, blocks: blocks, how: how, isCancelled: { true }) == nil)
        }
    }
}
