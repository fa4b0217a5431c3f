import Foundation
import Testing
@testable import NablaCore

/// Issue 19, item 2: Q and K read, converted and pooled in one pass (`InputSpec.loadPooled`,
/// `StreamedPool`) give the pooled vectors of today's path (`load()` then
/// `PooledBlocks(input:blocks:)`), bit for bit, and the same mask report; for float32,
/// float16 and bfloat16, head-major and token-major files, raster and block order,
/// partial edge blocks (pad and crop), head selections and slab sizes.
@Suite("One read-convert-pool pass")
struct StreamedPoolTests {
    /// A grid the block 2x4x4 does not divide (partial edge blocks on every axis).
    static let grid = TokenGrid(t: 3, h: 10, w: 12)
    static let heads = 4, d = 20
    static var tokens: Int { grid.tokens }

    /// `[heads, S, D]` values, distinct per head, token and dimension, some exactly
    /// representable in 16 bits and some not.
    static func values(seed: Double) -> [Float] {
        (0..<(heads * tokens * d)).map { (i: Int) -> Float in
            Float(sin(Double(i) * 0.0137 + seed) * 4 + cos(Double(i % 89) * seed) * 0.37)
        }
    }

    /// `x` (`[heads, S, D]`) laid out `[S, heads, D]`.
    static func tokenMajor(_ x: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for h in 0..<heads {
            for s in 0..<tokens {
                for j in 0..<d { out[(s * heads + h) * d + j] = x[(h * tokens + s) * d + j] }
            }
        }
        return out
    }

    /// A safetensors file holding `q` and `k` of `dtype`, head-major `[heads, S, D]` or
    /// token-major `[1, S, heads, D]`.
    static func file(in dir: TempDir, dtype: DType, tokenMajor: Bool, q: [Float]? = nil) throws -> String {
        let path = dir.file("qk-\(dtype)-\(tokenMajor).safetensors")
        let shape = tokenMajor ? [1, tokens, heads, d] : [heads, tokens, d]
        let qv = q ?? values(seed: 1), kv = values(seed: 2)
        try SafetensorsFile.write([("q", dtype, shape, tokenMajor ? Self.tokenMajor(qv) : qv),
                                   ("k", dtype, shape, tokenMajor ? Self.tokenMajor(kv) : kv)], metadata: [:], to: path)
        return path
    }

    static let block = BlockShape(bt: 2, bh: 4, bw: 4)

    /// Today's pooled vectors and the one-pass ones for `spec`, at slab size `slab`.
    static func both(_ spec: InputSpec, block: BlockShape, half: Bool, slab: Int) throws -> (old: PooledBlocks, new: PooledInput?) {
        let input = try spec.load(halfInPlace: half, values: false)
        let old = PooledBlocks(input: input, blocks: try input.blockGrid(block))
        // Small slabs go with small spans: some heads of interleaved rows are read a row at a time.
        let new = try HeadRead.$spanBytes.withValue(slab == 1 ? 40 : HeadRead.defaultSpanBytes) {
            try StreamedPool.$slabBytes.withValue(slab) { try spec.loadPooled(block: block) }
        }
        return (old, new)
    }

    @Test("float32, float16, bfloat16; head-major and token-major; raster and block order; pad and crop; head selections; slab sizes: bit for bit")
    func bitForBit() throws {
        let dir = try TempDir()
        // Block order needs a block that divides the grid: 1x5x6, pooled with 2x4x4 (the
        // stored blocks straddle the pooled ones) and with 1x5x6 itself (each block one run).
        let fractal = BlockShape(bt: 1, bh: 5, bw: 6)
        let layouts: [(LayoutOptions, EdgeMode?, BlockShape)] = [
            (LayoutOptions(grid: Self.grid, order: .raster), nil, Self.block),
            (LayoutOptions(grid: Self.grid, order: .raster), .crop, Self.block),
            (LayoutOptions(grid: Self.grid, order: .block, orderBlock: fractal), nil, Self.block),
            (LayoutOptions(grid: Self.grid, order: .block, orderBlock: fractal), nil, fractal),
        ]
        var compared = 0
        for dtype in [DType.float32, .float16, .bfloat16] {
            for tokenMajor in [false, true] {
                let path = try Self.file(in: dir, dtype: dtype, tokenMajor: tokenMajor)
                for (layout, edge, block) in layouts {
                    for picked in [nil, [1, 3], [2], [0, 1, 2]] as [[Int]?] {
                        var spec = InputSpec(source: .file(path), layout: layout, heads: picked.map(HeadSelection.init))
                        spec.edge = edge
                        for slab in [1, 1 << 24] {
                            for half in dtype == .float32 ? [false] : [false, true] {
                                let what = "\(dtype) tokenMajor \(tokenMajor) \(layout.order!) block \(block) \(String(describing: edge)) heads \(String(describing: picked)) slab \(slab) half \(half)"
                                let (old, new) = try Self.both(spec, block: block, half: half, slab: slab)
                                guard let new else {
                                    Issue.record("\(what): not pooled in one pass")
                                    continue
                                }
                                #expect(new.headIndices == (picked ?? [0, 1, 2, 3]), "\(what)")
                                #expect(new.blocks == old.blocks && new.heads == old.heads, "\(what)")
                                #expect(new.pooled.qa.map(\.bitPattern) == old.qa.map(\.bitPattern), "\(what): qa differ")
                                #expect(new.pooled.ka.map(\.bitPattern) == old.ka.map(\.bitPattern), "\(what): ka differ")
                                compared += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(compared == 3 * 2 * 4 * 4 * 2 + 2 * 2 * 4 * 4 * 2)
    }

    @Test("the pooled vectors equal a block mean written here, in block order (sequential Double sums)")
    func naiveMean() throws {
        let dir = try TempDir()
        let path = try Self.file(in: dir, dtype: .float32, tokenMajor: true)
        let spec = InputSpec(source: .file(path), layout: LayoutOptions(grid: Self.grid, order: .raster))
        let pooled = try #require(try StreamedPool.$slabBytes.withValue(1) { try spec.loadPooled(block: Self.block) })
        let q = Self.values(seed: 1), g = Self.grid, b = Self.block
        let (tb, hb, wb) = ((g.t + b.bt - 1) / b.bt, (g.h + b.bh - 1) / b.bh, (g.w + b.bw - 1) / b.bw)
        var worst = 0.0
        for h in 0..<Self.heads {
            for n in 0..<(tb * hb * wb) {
                let (bt, by, bx) = (n / (hb * wb), (n / wb) % hb, n % wb)
                var sum = [Double](repeating: 0, count: Self.d), count = 0
                for t in (bt * b.bt)..<min(g.t, (bt + 1) * b.bt) {
                    for y in (by * b.bh)..<min(g.h, (by + 1) * b.bh) {
                        for x in (bx * b.bw)..<min(g.w, (bx + 1) * b.bw) {
                            let s = (t * g.h + y) * g.w + x
                            for j in 0..<Self.d { sum[j] += Double(q[(h * Self.tokens + s) * Self.d + j]) }
                            count += 1
                        }
                    }
                }
                for j in 0..<Self.d {
                    worst = max(worst, abs(pooled.pooled.qa[(h * pooled.blocks.count + n) * Self.d + j] - sum[j] / Double(count)))
                }
            }
        }
        #expect(worst == 0, "largest difference from the block mean: \(worst)")
    }

    @Test("the mask report from the pooled pass equals today's: kept blocks, kv_num_blocks, statistics")
    func sameReport() throws {
        let dir = try TempDir()
        let path = try Self.file(in: dir, dtype: .bfloat16, tokenMajor: true)
        let spec = InputSpec(source: .file(path), layout: LayoutOptions(grid: Self.grid, order: .raster), heads: HeadSelection([0, 2, 3]))
        let settings = MaskSettings(threshold: 0.9)
        var input: QKInput? = try spec.load(halfInPlace: true, values: false)
        let old = try MaskReport(releasing: &input, block: Self.block, settings: settings)
        let new = MaskReport(pooled: try #require(try spec.loadPooled(block: Self.block)), settings: settings)
        #expect(new.mask.kept == old.mask.kept)
        #expect(new.kvNumBlocks == old.kvNumBlocks)
        #expect(new.mask.statistics.density == old.mask.statistics.density)
        #expect(new.mask.statistics.massKept == old.mask.statistics.massKept)
        #expect(new.headIndices == [0, 2, 3] && new.inputName == old.inputName)
        #expect(new.times.stages.map(\.name) == old.times.stages.map(\.name))
    }

    @Test("a head-major file: only the selected heads' bytes are read, once")
    func bytesRead() throws {
        let dir = try TempDir()
        let path = try Self.file(in: dir, dtype: .float16, tokenMajor: false)
        let spec = InputSpec(source: .file(path), layout: LayoutOptions(grid: Self.grid, order: .raster), heads: HeadSelection([1, 3]))
        let counter = FileBytes.ReadCounter()
        _ = try FileBytes.$readCounter.withValue(counter) { try StreamedPool.$slabBytes.withValue(1) { try spec.loadPooled(block: Self.block) } }
        let headers = 262
        #expect(counter.reads.filter { $0 > headers }.reduce(0, +) == 2 * 2 * Self.tokens * Self.d * 2, "\(counter.reads)")
    }

    @Test("a non-finite value: no pooled pass (nil), and load() names it; a deflated member is not streamed this way")
    func nonFinite() throws {
        let dir = try TempDir()
        var q = Self.values(seed: 1)
        q[(2 * Self.tokens + 5) * Self.d + 3] = .infinity
        let path = try Self.file(in: dir, dtype: .bfloat16, tokenMajor: true, q: q)
        let spec = InputSpec(source: .file(path), layout: LayoutOptions(grid: Self.grid, order: .raster))
        #expect(try spec.loadPooled(block: Self.block) == nil)
        expectNablaError(.nonFinite, ["head 2, token 5, dim 3"]) { _ = try spec.load(halfInPlace: true) }
        var other = spec
        other.heads = HeadSelection([0, 1])
        #expect(try other.loadPooled(block: Self.block) != nil, "the bad value is in a head not selected")
        let deflated = try TensorFile.open(path: TorchArchiveTests.file("arrays_compressed.npz")).planned("q")
        let (l, _) = try QKInput.layouts(q: deflated, k: deflated, v: nil, options: LayoutOptions())
        #expect(StreamedPool.element(of: deflated, layout: l) == nil)
    }
}
