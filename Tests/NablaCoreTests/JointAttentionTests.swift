import Foundation
import Testing
@testable import NablaCore
import NablaTestSupport

/// Attention on joint text-video sequences (issue 18, item 2) against a naive softmax over
/// the whole sequence written here (`NaiveSequenceAttention`): each position's block is
/// found from the position alone (text: `i / B` among the text blocks; video: its raster
/// coordinates, `BlockPartition`), the joint mask keeps every text row and column and the
/// video mask's video-to-video blocks; outputs, recall, the output error, the density and
/// the sampled estimate covering every block must equal the reference's.
@Suite("joint text tokens, attention")
struct JointAttentionTests {
    struct Case: Sendable, CustomStringConvertible {
        let grid: TokenGrid, block: BlockShape, nt: Int, place: TextPlace, edge: EdgeMode
        var description: String { "\(grid) block \(block) text \(nt)@\(place) \(edge)" }
    }

    static let cases: [Case] = [
        Case(grid: TokenGrid(t: 3, h: 17, w: 23), block: BlockShape(bt: 1, bh: 8, bw: 8), nt: 13, place: .start, edge: .pad),
        Case(grid: TokenGrid(t: 5, h: 6, w: 10), block: BlockShape(bt: 1, bh: 4, bw: 4), nt: 20, place: .end, edge: .pad),
        Case(grid: TokenGrid(t: 3, h: 17, w: 23), block: BlockShape(bt: 1, bh: 8, bw: 8), nt: 13, place: .end, edge: .crop),
        Case(grid: TokenGrid(t: 5, h: 6, w: 10), block: BlockShape(bt: 1, bh: 4, bw: 4), nt: 20, place: .start, edge: .crop),
        // Whole blocks everywhere: the text a multiple of B, the block dividing the grid.
        Case(grid: TokenGrid(t: 2, h: 8, w: 12), block: BlockShape(bt: 1, bh: 4, bw: 4), nt: 32, place: .start, edge: .pad),
    ]

    /// The joint input of `c` (`[1, S, heads, D]` Q, K, V read with the text tokens), and
    /// the raw tensors.
    static func input(_ c: Case, heads: Int = 2, d: Int = 8, seed: UInt64 = 4) throws -> (QKInput, [RawTensor]) {
        let video = randomInput(grid: c.grid, heads: heads, headDim: d, seed: seed, sharpness: 1.5)
        let (q, k) = JointTextTests.joint(video, text: c.nt, place: c.place, seed: seed &+ 1)
        var rng = SeededRandom(seed: seed &+ 2)
        let s = c.nt + c.grid.tokens
        let values = (0..<(s * heads * d)).map { _ in rng.normal() }
        let box = DataBox(values.withUnsafeBytes { Data($0) })
        let v = RawTensor(name: "v", dtype: .float32, shape: [1, s, heads, d], byteOrder: .native, fortranOrder: false,
                          bytes: box.bytes, owner: box)
        var options = LayoutOptions(grid: c.grid, order: .raster)
        options.text = TextTokens(count: c.nt, place: c.place)
        var input = try QKInput.from(q: q, k: k, v: v, options: options, name: "joint")
        input.edge = c.edge
        return (input, [q, k, v])
    }

    /// The reference's view of the sequence: block labels from positions alone.
    struct Labels {
        let nt: Int, ntb: Int, nvb: Int, place: TextPlace
        let video: BlockPartition
        let grid: TokenGrid
        init(_ c: Case) {
            nt = c.nt
            ntb = (c.nt + c.block.tokens - 1) / c.block.tokens
            video = BlockPartition(grid: c.grid, block: c.block, edge: c.edge)
            nvb = video.n
            place = c.place
            grid = c.grid
        }
        var firstText: Int { place == .start ? 0 : nvb }
        var firstVideo: Int { place == .start ? ntb : 0 }
        func isText(_ j: Int) -> Bool { j >= firstText && j < firstText + ntb }
        /// The joint block of sequence position `pos`, `nil` for a dropped video token.
        func block(_ pos: Int, b: Int) -> Int? {
            let textIndex = place == .start ? pos : pos - grid.tokens
            if textIndex >= 0 && textIndex < nt { return firstText + textIndex / b }
            let r = place == .start ? pos - nt : pos
            let vb = video.blockOf[r]
            return vb < 0 ? nil : firstVideo + vb
        }
    }

    /// One head's naive attention, `[S, D]` rows of head `h` of the `[1, S, heads, D]` tensors.
    static func naive(_ raw: [RawTensor], head h: Int, labels: Labels, b: Int) -> NaiveSequenceAttention {
        let shape = raw[0].shape, s = shape[1], heads = shape[2], d = shape[3]
        func rows(_ t: RawTensor) -> [Float] {
            let f = t.floats()
            return (0..<s).flatMap { pos in (0..<d).map { f[(pos * heads + h) * d + $0] } }
        }
        return NaiveSequenceAttention(q: rows(raw[0]), k: rows(raw[1]), v: rows(raw[2]), tokens: s, headDim: d,
                                      block: { labels.block($0, b: b) })
    }

    @Test("sparse and dense outputs, recall, error and density equal a naive softmax over all keys",
          arguments: cases)
    func outputs(c: Case) throws {
        let (input, raw) = try Self.input(c)
        let labels = Labels(c), b = c.block.tokens, heads = input.heads, d = input.headDim
        let report = try MaskReport(input: input, block: c.block, settings: MaskSettings(threshold: 0.7))
        let mask = report.mask
        let blocks = try input.blockGrid(c.block)
        let ops = try AttentionOperands(input: input, blocks: blocks)
        #expect(ops.n == labels.ntb + labels.nvb)
        #expect(ops.tokens == c.nt + labels.video.kept)
        let videoRows = KeptKeyBlocks(mask)
        let sparse = ops.sparse(videoRows, threads: 2), dense = ops.dense(threads: 2)
        let mass = ops.trueBlockMass(threads: 2)
        let jointRecall = try JointRecall.recall(input: input, mask: mask)
        let attention = try AttentionReport(input: input, blocks: blocks, kept: videoRows, maskSource: "test",
                                            request: AttentionRequest(sparse: true, dense: true, recall: true))
        #expect(attention.kept.n == ops.n)
        for h in 0..<heads {
            let nv = labels.nvb, fv = labels.firstVideo
            let kept = { (a: Int, c: Int) -> Bool in
                labels.isText(a) || labels.isText(c) || mask.kept[(h * nv + a - fv) * nv + c - fv] != 0
            }
            let ref = Self.naive(raw, head: h, labels: labels, b: b)
            #expect(ref.real.count == ops.tokens)
            let wantSparse = ref.output(kept: kept), wantDense = ref.output(kept: nil)
            var worst = 0.0
            for i in 0..<(ops.tokens * d) {
                worst = max(worst, abs(Double(sparse[h * ops.tokens * d + i]) - wantSparse[i]))
                worst = max(worst, abs(Double(dense[h * ops.tokens * d + i]) - wantDense[i]))
                worst = max(worst, abs(Double(attention.sparse![h * ops.tokens * d + i]) - wantSparse[i]))
            }
            #expect(worst < 1e-4, "head \(h): outputs differ by \(worst)")
            let recall = ref.recall(kept: kept)
            #expect(recall < 1)
            #expect(abs(mass.recall(of: ops.kernelRows(videoRows)).recall(slot: h) - recall) < 1e-5)
            #expect(abs(attention.recall!.recall(slot: h) - recall) < 1e-5)
            #expect(abs(jointRecall[h] - recall) < 1e-6, "JointRecall \(jointRecall[h]) vs naive \(recall)")
            let error = NaiveAttention.relativeError(wantSparse, wantDense)
            #expect(abs(attention.error!.perHead[h] - error) < 1e-4 * max(error, 1e-3))
            // Density: kept real token pairs of the whole sequence.
            let r = ref.real.count
            var pairs = 0
            for i in 0..<r { for j in 0..<r where kept(ref.blockOf[i], ref.blockOf[j]) { pairs += 1 } }
            #expect(abs(attention.kept.density(head: h) - Double(pairs) / Double(r * r)) < 1e-12)
        }
    }

    @Test("--sample covering every block is exact: recall and error equal the full runs; strata are the slabs and the text",
          arguments: [cases[0], cases[1], cases[4]])
    func sampled(c: Case) throws {
        let (input, _) = try Self.input(c)
        let labels = Labels(c)
        let mask = try MaskReport(input: input, block: c.block, settings: MaskSettings(threshold: 0.6)).mask
        let blocks = try input.blockGrid(c.block)
        let full = try AttentionReport(input: input, blocks: blocks, kept: KeptKeyBlocks(mask), maskSource: "test",
                                       request: AttentionRequest(sparse: true, dense: true, recall: true))
        let ops = full.operands
        let joint = try #require(ops.joint)
        let sample = QueryBlockSample(blocks: blocks, joint: joint, seed: 9)
        #expect(sample.order.sorted() == Array(0..<ops.n))
        #expect(sample.strataSizes == Array(repeating: blocks.blocksPerSlab, count: blocks.tb) + [labels.ntb])
        for j in 0..<ops.n { #expect((sample.stratum(of: j) == blocks.tb) == labels.isText(j)) }
        // The first round takes one block of every stratum.
        #expect(Set(sample.order.prefix(blocks.tb + 1).map { sample.stratum(of: $0) }).count == blocks.tb + 1)
        let estimator = try AttentionEstimator(operands: ops, kept: KeptKeyBlocks(mask), error: true, seed: 9)
        estimator.advance(to: estimator.total)
        #expect(estimator.total == ops.n)
        for (h, e) in estimator.estimates.enumerated() {
            #expect(e.isExact)
            #expect(abs(e.recall.value - full.recall!.recall(slot: h)) < 1e-9, "head \(h)")
            #expect(abs(e.oracle.value - full.recall!.oracle(slot: h)) < 1e-9, "head \(h)")
            #expect(abs(e.relativeL2Error!.value - full.error!.perHead[h]) < 1e-6 * max(full.error!.perHead[h], 1e-3))
        }
        let overall = estimator.overall
        #expect(abs(overall.recall.value - (0..<input.heads).reduce(0.0) { $0 + full.recall!.recall(slot: $1) } / Double(input.heads)) < 1e-9)
        #expect(abs(overall.relativeL2Error!.value - full.error!.overall) < 1e-6 * max(full.error!.overall, 1e-3))
    }

    @Test("a joint mask file must keep the text rows and columns; text without V beside video V is refused")
    func refusals() throws {
        let c = Self.cases[1]
        let (input, _) = try Self.input(c)
        let blocks = try input.blockGrid(c.block)
        let joint = JointSequence(video: blocks, text: TextTokens(count: c.nt, place: c.place))
        let mask = try MaskReport(input: input, block: c.block, settings: MaskSettings(threshold: 0.7)).mask
        var kept = joint.jointKept(mask)
        #expect(joint.firstDroppedText(kept, heads: 2) == nil)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-joint-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = dir + "/good.npy", bad = dir + "/bad.npy"
        let nj = joint.count
        try Data(try NPY.encode(kept, shape: [2, nj, nj], name: good)).write(to: URL(fileURLWithPath: good))
        let rows = try MaskFile.read(good, heads: 2, joint: joint)
        #expect(rows == joint.keptKeyBlocks(mask))
        // Head 1 drops video query block 0's key text block.
        kept[(1 * nj + 0) * nj + joint.firstTextBlock] = 0
        try Data(try NPY.encode(kept, shape: [2, nj, nj], name: bad)).write(to: URL(fileURLWithPath: bad))
        let e = nablaError { _ = try MaskFile.read(bad, heads: 2, joint: joint) }
        #expect(e?.message == "\(bad): head 1 drops query block 0, key block \(joint.firstTextBlock), a pair of a text block (joint blocks \(joint.firstTextBlock)..<\(nj)); text rows and columns are always kept")
        let video = nablaError { _ = try MaskFile.read(good, heads: 2, blocks: blocks) }
        #expect(video?.message.contains("does not fit the input: expected [heads, N, N] = [2, \(blocks.count), \(blocks.count)]") == true)
        var noTextV = input
        noTextV.text = TextQK(tokens: input.text!.tokens, q: input.text!.q, k: input.text!.k)
        let refused = nablaError { _ = try AttentionOperands(input: noTextV, blocks: blocks) }
        #expect(refused?.message == "joint: the video tokens have V but the 20@end text tokens have none")
    }

    @Test("sweep and diff's recall (ThresholdSweep, MaskQuality) on a joint input equal JointRecall; a known mass rebuilt from its values regains the joint blocks; videoBlocks is the video-to-video part")
    func consumers() throws {
        let c = Self.cases[1]
        let (input, _) = try Self.input(c)
        let map = try #require(try PooledMap.compute(input, block: c.block, isCancelled: { false }))
        let mask = map.cut(MaskSettings(threshold: 0.7))
        let want = try JointRecall.recall(input: input, mask: mask)
        let sweep = try ThresholdSweep(map: map, sta: nil, thresholds: [0.7], input: input, recall: true)
        let quality = try #require(try MaskQuality.measure([KeptKeyBlocks(mask)], input: input, blocks: mask.blocks, error: true))
        let ops = try AttentionOperands(input: input, blocks: mask.blocks)
        let mass = ops.trueBlockMass(threads: 2)
        // What the app hands the sweep: the values alone, without weights or joint blocks.
        let bare = TrueBlockMass(heads: mass.heads, n: mass.n, mass: mass.mass)
        let known = try ThresholdSweep(map: map, sta: nil, thresholds: [0.7], input: input, recall: true, trueMass: bare)
        for h in 0..<input.heads {
            #expect(abs(sweep.recall![0][h] - want[h]) < 1e-5)
            #expect(abs(quality.recall[0][h] - want[h]) < 1e-5)
            #expect(abs(known.recall![0][h] - want[h]) < 1e-5)
            #expect(abs(mass.recall(of: mask).recall(slot: h) - want[h]) < 1e-5)
        }
        let joint = try #require(mass.joint)
        let video = mass.videoBlocks
        #expect(video.n == mask.n && video.joint == nil)
        for h in 0..<input.heads {
            for a in 0..<mask.n {
                for b in 0..<mask.n {
                    #expect(video.mass(slot: h, query: a, key: b) == mass.mass(slot: h, query: joint.firstVideoBlock + a, key: joint.firstVideoBlock + b))
                }
            }
        }
    }

}
