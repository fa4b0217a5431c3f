import Foundation
import Testing
@testable import NablaCore
import NablaTestSupport

/// Grids the block does not divide (issue 18): `--edge pad` (partial edge blocks) and
/// `--edge crop` (the grid floored to whole blocks) against a naive reference written
/// here from the definitions: each token's block from its coordinates, means over real
/// tokens, `log(count / B)` on each key block's logit, a stable ascending CDF cut, token
/// pair counts, softmax attention over the real tokens of the kept key blocks.
@Suite("edge blocks")
struct EdgeBlockTests {
    static let grids = ["21x30x52", "13x30x45", "5x45x80", "3x17x23"].map { try! TokenGrid(parsing: $0) }
    static let blockShapes = ["1x8x8", "2x4x4", "1x4x8"].map { try! BlockShape(parsing: $0) }

    /// The reference partition: for every raster token of `grid`, its block (raster over
    /// the block grid) or -1 when crop drops it; the block grid's sides; real tokens per block.
    typealias Partition = BlockPartition

    /// The reference map of head `h`: `[N, N]` probabilities.
    static func referenceMap(_ input: QKInput, _ p: Partition, block: BlockShape, head h: Int) -> [Double] {
        let d = input.headDim, n = p.n
        var qa = [Double](repeating: 0, count: n * d), ka = qa
        for (s, blk) in p.blockOf.enumerated() where blk >= 0 {
            for j in 0..<d {
                qa[blk * d + j] += Double(input.q.row(h, s)[j])
                ka[blk * d + j] += Double(input.k.row(h, s)[j])
            }
        }
        for blk in 0..<n {
            for j in 0..<d {
                qa[blk * d + j] /= Double(p.counts[blk])
                ka[blk * d + j] /= Double(p.counts[blk])
            }
        }
        var probs = [Double](repeating: 0, count: n * n)
        for a in 0..<n {
            var logits = (0..<n).map { b -> Double in
                var dot = 0.0
                for j in 0..<d { dot += qa[a * d + j] * ka[b * d + j] }
                return dot / Double(d).squareRoot() + Foundation.log(Double(p.counts[b]) / Double(block.tokens))
            }
            let m = logits.max()!
            logits = logits.map { Foundation.exp($0 - m) }
            let total = logits.reduce(0, +)
            for b in 0..<n { probs[a * n + b] = logits[b] / total }
        }
        return probs
    }

    /// The reference CDF cut of one row: ascending (probability, index), keep from the
    /// first running sum `>= 1 - thr`, always the last.
    static func referenceCut(_ row: ArraySlice<Double>, threshold: Double) -> [UInt8] {
        let base = row.startIndex
        let order = row.indices.sorted { (row[$0], $0) < (row[$1], $1) }
        var kept = [UInt8](repeating: 0, count: row.count)
        var c = 0.0
        for (i, b) in order.enumerated() {
            c += row[b]
            if c >= 1 - threshold || i == order.count - 1 { kept[b - base] = 1 }
        }
        return kept
    }

    @Test("block grid: ceiling (pad) or floor (crop), offsets and block order cover each kept token once",
          arguments: grids, blockShapes)
    func partition(grid: TokenGrid, block: BlockShape) throws {
        for edge in EdgeMode.allCases {
            let blocks = try BlockGrid(grid: grid, block: block, edge: edge)
            let ref = Partition(grid: grid, block: block, edge: edge)
            #expect(blocks.count == ref.n)
            #expect(blocks.blockTokenCounts().map(Int.init) == ref.counts)
            #expect(blocks.keptTokens == ref.kept)
            let perm = blocks.blockOrderPermutation()
            #expect(Set(perm).count == ref.kept)
            for blk in 0..<blocks.count {
                let start = blocks.offset(ofBlock: blk)
                for i in 0..<ref.counts[blk] { #expect(ref.blockOf[Int(perm[start + i])] == blk) }
            }
            #expect(blocks.edgeText != nil)
            #expect(edge == .crop ? blocks.droppedTokens == grid.tokens - ref.kept : blocks.droppedTokens == 0)
        }
    }

    @Test("pooled map, cut and statistics equal the reference, pad and crop", arguments: grids, blockShapes)
    func masks(grid: TokenGrid, block: BlockShape) throws {
        for edge in EdgeMode.allCases {
            var input = randomInput(grid: grid, heads: 1, headDim: 8, seed: UInt64(grid.tokens + block.tokens))
            input.edge = edge
            let ref = Partition(grid: grid, block: block, edge: edge)
            let map = try #require(try PooledMap.compute(input, block: block))
            let probs = Self.referenceMap(input, ref, block: block, head: 0)
            let n = ref.n
            var worst = 0.0
            for i in 0..<(n * n) { worst = max(worst, abs(map.probs[i] - probs[i])) }
            #expect(worst < 1e-9, "map differs by \(worst) (\(edge), \(grid), \(block))")
            let threshold = 0.8
            let mask = map.cut(MaskSettings(threshold: threshold))
            var pairs = 0.0, massKept = 0.0
            for a in 0..<n {
                let row = Self.referenceCut(probs[(a * n)..<((a + 1) * n)], threshold: threshold)
                if mask.margin[a] > BlockMask.ambiguousMargin {
                    #expect(Array(mask.kept[(a * n)..<((a + 1) * n)]) == row, "row \(a) (\(edge), \(grid), \(block))")
                }
                for b in 0..<n where mask.kept[a * n + b] != 0 {
                    pairs += Double(ref.counts[a] * ref.counts[b])
                    massKept += probs[a * n + b] * Double(ref.counts[a]) / Double(ref.kept)
                }
            }
            let density = pairs / Double(ref.kept * ref.kept)
            #expect(abs(mask.statistics.density[0] - density) < 1e-12)
            #expect(abs(mask.statistics.massKept[0] - massKept) < 1e-9)
            #expect(abs(KeptKeyBlocks(mask).density - density) < 1e-12)
        }
    }

    @Test("block-sparse attention and recall over partial edge blocks equal naive attention",
          arguments: [try! TokenGrid(parsing: "3x17x23"), try! TokenGrid(parsing: "2x9x13")], blockShapes)
    func attention(grid: TokenGrid, block: BlockShape) throws {
        for edge in EdgeMode.allCases {
            var input = AttentionTests.input(grid: grid, heads: 2, headDim: 8, seed: UInt64(grid.tokens * 7 + block.tokens))
            input.edge = edge
            let blocks = try input.blockGrid(block)
            let ref = Partition(grid: grid, block: block, edge: edge)
            let keptMask = AttentionTests.randomMask(heads: 2, n: blocks.count, density: 0.4, seed: 5)
            let kept = KeptKeyBlocks(kept: keptMask, heads: 2, blocks: blocks)
            let ops = try AttentionOperands(input: input, blocks: blocks)
            #expect(ops.tokens == ref.kept)
            let out = ops.sparse(kept, threads: 2)
            let (naive, recall) = NaiveAttention.blockSparse(input, ref, kept: keptMask)
            var worst = 0.0
            for i in naive.indices { worst = max(worst, abs(Double(out[i]) - naive[i])) }
            #expect(worst < 1e-4, "output differs by \(worst) (\(edge), \(grid), \(block))")
            let measured = ops.trueBlockMass(threads: 2).recall(of: kept)
            for h in 0..<2 { #expect(abs(measured.recall(slot: h) - recall[h]) < 1e-4) }
        }
    }

    @Test("a grid the block divides gives the same block grid under crop and pad")
    func dividing() throws {
        let grid = TokenGrid(t: 4, h: 16, w: 24)
        let pad = try BlockGrid(grid: grid, block: .nabla, edge: .pad)
        let crop = try BlockGrid(grid: grid, block: .nabla, edge: .crop)
        #expect(pad == crop)
        #expect(pad.edgeText == nil && pad.isUniform && pad.keyLogitOffsets() == nil)
    }

    @Test("crop refuses a block larger than the grid in an axis, in one line")
    func cropTooSmall() {
        #expect(throws: NablaError.self) { try BlockGrid(grid: TokenGrid(t: 1, h: 5, w: 40), block: .nabla, edge: .crop) }
        #expect((try? BlockGrid(grid: TokenGrid(t: 1, h: 5, w: 40), block: .nabla, edge: .pad))?.count == 5)
    }
}
