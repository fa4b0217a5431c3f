import Foundation
import Testing
@testable import NablaCore

/// `MaskSpec`, `SpecifiedMask` and `MaskComparison` against masks and Jaccards computed
/// here, token pair by token pair.
@Suite("Mask comparison")
struct MaskComparisonTests {
    static let grid = TokenGrid(t: 2, h: 8, w: 12)
    static let input = randomInput(grid: grid, heads: 2, headDim: 8, seed: 12)

    /// Jaccard over (query token, key token) pairs, written for the test: a token pair is
    /// kept by a mask when the pair of blocks holding the two tokens is.
    static func tokenJaccard(_ a: SpecifiedMask, _ b: SpecifiedMask, head h: Int) -> Double {
        let g = a.blocks.grid
        func block(_ s: Int, _ m: SpecifiedMask) -> Int {
            let x = s % g.w, y = (s / g.w) % g.h, t = s / (g.w * g.h)
            let bl = m.blocks.block
            return ((t / bl.bt) * m.blocks.hb + y / bl.bh) * m.blocks.wb + x / bl.bw
        }
        var inter = 0, union = 0
        for s in 0..<g.tokens {
            let qa = block(s, a), qb = block(s, b)
            for r in 0..<g.tokens {
                let ka = a.kept[(h * a.n + qa) * a.n + block(r, a)] != 0
                let kb = b.kept[(h * b.n + qb) * b.n + block(r, b)] != 0
                if ka && kb { inter += 1 }
                if ka || kb { union += 1 }
            }
        }
        return union == 0 ? 1 : Double(inter) / Double(union)
    }

    static func make(_ text: String, block: BlockShape = .init(bt: 1, bh: 4, bw: 4), other: [Double]? = nil) throws -> SpecifiedMask {
        var maps: [BlockShape: PooledMap] = [:]
        return try SpecifiedMask.make(try MaskSpec(parsing: text).withDefaultBlock(block), input: input, maps: &maps,
                                      otherDensity: other)
    }

    @Test("Jaccard equals the token-pair Jaccard computed here, for equal and different block shapes",
          arguments: [("thr=0.6", "thr=0.8"), ("thr=0.7", "thr=0.7,sta=1x3x3"), ("thr=0.8", "block=2x4x4,thr=0.8"),
                      ("block=1x4x6,thr=0.9", "block=2x8x4,thr=0.5"), ("sta=1x3x3", "block=1x2x3,thr=0.9")])
    func jaccard(a: String, b: String) throws {
        let ma = try Self.make(a), mb = try Self.make(b)
        let c = MaskComparison(ma, mb)
        var unionAll = 0
        for h in 0..<2 {
            let want = Self.tokenJaccard(ma, mb, head: h)
            #expect(abs(c.jaccard(head: h) - want) < 1e-12, "head \(h): \(c.jaccard(head: h)) vs \(want)")
            unionAll += c.onlyA[h] + c.onlyB[h] + c.both[h]
            // Both masks' token-pair counts: density times S^2.
            let s2 = Self.grid.tokens * Self.grid.tokens
            #expect(c.onlyA[h] + c.both[h] == Int((ma.density[h] * Double(s2)).rounded()))
            #expect(c.onlyB[h] + c.both[h] == Int((mb.density[h] * Double(s2)).rounded()))
        }
        #expect(unionAll > 0)
        #expect(c.jaccard > 0 && c.jaccard <= 1)
    }

    @Test("a mask against itself agrees fully; against its complement part not at all")
    func identities() throws {
        let m = try Self.make("thr=0.7")
        #expect(MaskComparison(m, m).jaccard == 1)
        let complement = SpecifiedMask(spec: MaskSpec(.dense), blocks: m.blocks, heads: m.heads, kept: m.kept.map { 1 - $0 }, map: nil)
        let c = MaskComparison(m, complement)
        #expect(c.jaccard == 0 && c.both == [0, 0])
    }

    @Test("masks are the engine's: the cut, STA alone, dense, top-k of a density")
    func kinds() throws {
        let block = BlockShape(bt: 1, bh: 4, bw: 4)
        let map = try #require(try PooledMap.compute(Self.input, block: block))
        let settings = MaskSettings(threshold: 0.7, sta: STAWindow(wt: 1, wh: 3, ww: 3))
        #expect(try Self.make("thr=0.7,sta=1x3x3").kept == map.cut(settings).kept)
        let blocks = try BlockGrid(grid: Self.grid, block: block)
        #expect(try Self.make("sta=1x3x3").kept == staPattern(blocks, window: STAWindow(wt: 1, wh: 3, ww: 3)) + staPattern(blocks, window: STAWindow(wt: 1, wh: 3, ww: 3)))
        #expect(try Self.make("dense").overallDensity == 1)
        // Top-k: every row keeps k = round(0.25 N) blocks, and no dropped block outweighs a kept one.
        let top = try Self.make("topk=0.25")
        let n = top.n, k = Int((0.25 * Double(n)).rounded())
        for h in 0..<2 { for a in 0..<n {
            let row = (0..<n).map { top.kept[(h * n + a) * n + $0] != 0 }
            #expect(row.filter { $0 }.count == k)
            let keptMin = (0..<n).filter { row[$0] }.map { map.probability(head: h, query: a, key: $0) }.min()!
            let droppedMax = (0..<n).filter { !row[$0] }.map { map.probability(head: h, query: a, key: $0) }.max()!
            #expect(keptMin >= droppedMax)
        } }
        // A bare topk takes the other's density, head by head.
        let cut = try Self.make("thr=0.8")
        let same = try Self.make("topk", other: cut.density)
        for h in 0..<2 { #expect(abs(same.density[h] - cut.density[h]) <= 0.5 / Double(n) + 1e-12) }
    }

    @Test("spec texts parse to their kinds, bad ones are one-line errors naming the spec")
    func parsing() throws {
        #expect(try MaskSpec(parsing: "thr=0.9,sta=11x3x3") == MaskSpec(.cut(MaskSettings(threshold: 0.9, sta: .kandinsky))))
        #expect(try MaskSpec(parsing: "sta=11x3x3,block=1x16x16") == MaskSpec(.sta(.kandinsky), block: BlockShape(bt: 1, bh: 16, bw: 16)))
        #expect(try MaskSpec(parsing: "topk") == MaskSpec(.topK(density: nil)))
        #expect(try MaskSpec(parsing: "out/mask.npy") == MaskSpec(.file("out/mask.npy")))
        for bad in ["", "thr=2", "thr=0.5,topk", "foo=1", "sta=3x3", "topk=0", "dense=1", "block=1x8x8"] {
            #expect(throws: NablaError.self, "\(bad)") { try MaskSpec(parsing: bad) }
        }
        do {
            _ = try MaskSpec(parsing: "thr=1.5")
            Issue.record("thr=1.5 was accepted")
        } catch let e as NablaError {
            #expect(e.message.contains("mask spec 'thr=1.5'") && !e.message.contains("\n"))
        }
    }
}
