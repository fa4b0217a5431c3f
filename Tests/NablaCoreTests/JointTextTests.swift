import Foundation
import Testing
@testable import NablaCore

/// Joint text tokens (issue 18, item 2), against references written here: the joint
/// tensor is built from a video-only input and random text rows; the video-to-video
/// mask must equal NABLA on the video tokens alone, text rows and columns are kept, and
/// recall equals a naive softmax over all keys in sequence order with each token's block
/// found from its coordinates.
@Suite("joint text tokens")
struct JointTextTests {
    /// `[1, S, heads, D]` float32 (diffusers' layout) of `video` with `nt` random text
    /// tokens at `place`; returns Q and K.
    static func joint(_ video: QKInput, text nt: Int, place: TextPlace, seed: UInt64) -> (RawTensor, RawTensor) {
        var rng = SeededRandom(seed: seed)
        let heads = video.heads, d = video.headDim, nv = video.grid.tokens, s = nt + nv
        func tensor(_ x: HeadTokens, _ name: String) -> RawTensor {
            var values = [Float](repeating: 0, count: s * heads * d)
            for pos in 0..<s {
                let textIndex = place == .start ? pos : pos - nv
                let isText = place == .start ? pos < nt : pos >= nv
                for h in 0..<heads {
                    for j in 0..<d {
                        values[(pos * heads + h) * d + j] = isText ? rng.normal(1.5) + Float(textIndex % 3)
                            : x.row(h, place == .start ? pos - nt : pos)[j]
                    }
                }
            }
            let box = DataBox(values.withUnsafeBytes { Data($0) })
            return RawTensor(name: name, dtype: .float32, shape: [1, s, heads, d], byteOrder: .native, fortranOrder: false,
                             bytes: box.bytes, owner: box)
        }
        return (tensor(video.q, "q"), tensor(video.k, "k"))
    }

    static func read(_ q: RawTensor, _ k: RawTensor, grid: TokenGrid, text: TextTokens?) throws -> QKInput {
        var options = LayoutOptions(grid: grid, order: .raster)
        options.text = text
        return try QKInput.from(q: q, k: k, options: options, name: "joint")
    }

    @Test("N[@start|@end] parses; bad places and counts are refused naming the option")
    func parsing() throws {
        #expect(try TextTokens(parsing: "226") == TextTokens(count: 226, place: .start))
        #expect(try TextTokens(parsing: "256@end") == TextTokens(count: 256, place: .end))
        let bad = nablaError { _ = try TextTokens(parsing: "12@middle") }
        #expect(bad?.message.contains("--text-tokens '12@middle': place 'middle' is not start or end") == true)
        #expect(nablaError { _ = try TextTokens(parsing: "-3") }?.message.contains("N[@start|@end]") == true)
    }

    @Test("the video-to-video mask equals NABLA on the video tokens alone; text rows and columns are kept",
          arguments: [(TextPlace.start, 70, "1x8x8"), (.end, 64, "1x4x8"), (.start, 5, "2x4x4")])
    func videoMask(place: TextPlace, nt: Int, blockText: String) throws {
        let grid = TokenGrid(t: 3, h: 12, w: 17), block = try BlockShape(parsing: blockText)
        let video = randomInput(grid: grid, heads: 2, headDim: 16, seed: 7)
        let (q, k) = Self.joint(video, text: nt, place: place, seed: 3)
        let input = try Self.read(q, k, grid: grid, text: TextTokens(count: nt, place: place))
        #expect(input.text?.q.tokens == nt && input.q.tokens == grid.tokens)
        let settings = MaskSettings(threshold: 0.8)
        let joint = try MaskReport(input: input, block: block, settings: settings)
        let alone = try MaskReport(input: video, block: block, settings: settings)
        #expect(joint.mask.kept == alone.mask.kept)
        let seq = try #require(joint.sequence)
        let b = block.tokens, ntb = (nt + b - 1) / b
        #expect(seq.textBlocks == ntb && seq.count == ntb + alone.blocks.count)
        #expect(seq.tokens(inBlock: seq.firstTextBlock + ntb - 1) == nt - (ntb - 1) * b)
        let kept = seq.jointKept(joint.mask), nj = seq.count, nv = alone.blocks.count
        let firstVideo = place == .start ? ntb : 0
        for h in 0..<2 {
            for a in 0..<nj {
                for c in 0..<nj {
                    let va = a - firstVideo, vc = c - firstVideo
                    let video = (0..<nv).contains(va) && (0..<nv).contains(vc)
                    let want: UInt8 = video ? alone.mask.kept[(h * nv + va) * nv + vc] : 1
                    #expect(kept[(h * nj + a) * nj + c] == want)
                }
            }
        }
        let rows = seq.kvRows(joint.mask)
        for r in 0..<(2 * nj) {
            let count = Int(rows.numBlocks[r])
            #expect(count == (0..<nj).filter { kept[r * nj + $0] != 0 }.count)
            let listed = rows.indices[(r * nj)..<(r * nj + count)].map(Int.init)
            #expect(listed == (0..<nj).filter { kept[r * nj + $0] != 0 })
        }
    }

    @Test("recall with text equals a naive softmax over all keys in sequence order",
          arguments: [(TextPlace.start, 40), (.end, 19)])
    func recall(place: TextPlace, nt: Int) throws {
        let grid = TokenGrid(t: 2, h: 9, w: 13), block = BlockShape(bt: 1, bh: 4, bw: 4)
        let video = randomInput(grid: grid, heads: 2, headDim: 8, seed: 11)
        let (q, k) = Self.joint(video, text: nt, place: place, seed: 5)
        let input = try Self.read(q, k, grid: grid, text: TextTokens(count: nt, place: place))
        let report = try MaskReport(input: input, block: block, settings: MaskSettings(threshold: 0.7))
        let got = try JointRecall.recall(input: input, mask: report.mask)
        // The naive reference: every token of the sequence read back from the joint tensors.
        let s = nt + grid.tokens, d = 8, hb = 3, wb = 4
        func blockOf(_ pos: Int) -> Int? {
            let r = place == .start ? pos - nt : pos
            guard (0..<grid.tokens).contains(r) else { return nil }
            let x = r % grid.w, y = (r / grid.w) % grid.h, t = r / (grid.w * grid.h)
            return (t * hb + y / 4) * wb + x / 4
        }
        let qf = q.floats(), kf = k.floats()
        for h in 0..<2 {
            var total = 0.0
            for i in 0..<s {
                let logits = (0..<s).map { j in
                    (0..<d).reduce(0.0) { $0 + Double(qf[(i * 2 + h) * d + $1]) * Double(kf[(j * 2 + h) * d + $1]) } / Double(d).squareRoot()
                }
                let m = logits.max()!
                let e = logits.map { Foundation.exp($0 - m) }
                var kept = 0.0
                for j in 0..<s {
                    if let a = blockOf(i), let c = blockOf(j), !report.mask.isKept(head: h, query: a, key: c) { continue }
                    kept += e[j]
                }
                total += kept / e.reduce(0, +)
            }
            // The engine's dot products are Float, the reference's Double.
            #expect(abs(got[h] - total / Double(s)) < 1e-6, "head \(h): \(got[h]) vs \(total / Double(s))")
            #expect(got[h] < 1)
        }
    }

    @Test("text tokens that leave no video tokens, or do not fit the grid, are refused naming the tensor")
    func badCounts() throws {
        let grid = TokenGrid(t: 1, h: 8, w: 8)
        let video = randomInput(grid: grid, heads: 1, headDim: 8, seed: 1)
        let (q, k) = Self.joint(video, text: 10, place: .start, seed: 2)
        let tooMany = nablaError { _ = try Self.read(q, k, grid: grid, text: TextTokens(count: 74)) }
        #expect(tooMany?.message(naming: .testFlags) == "q: text tokens 74@start and --grid 1x8x8 make 138 tokens but the sequence axis of [1, 74, 1, 8] has 74 (the text alone fills it, no video tokens left)")
        let off = nablaError { _ = try Self.read(q, k, grid: grid, text: TextTokens(count: 9)) }
        #expect(off?.message(naming: .testFlags) == "q: text tokens 9@start and --grid 1x8x8 make 73 tokens but the sequence axis of [1, 74, 1, 8] has 74")
        #expect(nablaError { _ = try Self.read(q, k, grid: grid, text: nil) } != nil)
    }
}
