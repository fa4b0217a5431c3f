import Foundation
import Testing
@testable import NablaCore

/// Every kernel level this machine runs (baseline, avx2 and avx512 on an AVX-512 x86-64)
/// against naive references written here: pooling as a sequential sum in block order,
/// the pooled map as dot products and libm's exp, attention and the true block mass as a
/// softmax over every key in Double. The golden masks run under every level in
/// GoldenMaskTests (nablaTests), the exponentials in MapKernelTests and AttentionTests.
@Suite("kernel levels against naive references")
struct KernelVariantTests {
    @Test("the levels this machine runs include the baseline and the best, and names round-trip")
    func levels() throws {
        let supported = KernelVariant.supported
        #if arch(x86_64)
        #expect(supported.first?.name == "baseline")
        #endif
        #expect(supported.contains(KernelVariant.best))
        #expect(supported.last == KernelVariant.best)
        for v in supported { #expect(try KernelVariant.named(v.name) == v) }
        #expect(try KernelVariant.named(nil) == KernelVariant.best)
        #expect(try KernelVariant.named("") == KernelVariant.best)
        let e = #expect(throws: NablaError.self) { try KernelVariant.named("sse9") }
        #expect(e?.code == .badArgument)
        #expect(e?.message.hasPrefix("NABLA_CPU=sse9 is not a kernel level; use one of ") == true)
        #expect(e?.message.contains("\n") == false)
    }

    /// Pooled vectors summed one token after another in block order, in Double, divided
    /// by the block size: what NABLA.md's reference computes.
    static func naivePool(_ x: HeadTokens, blocks: BlockGrid) -> [Double] {
        let n = blocks.count, b = blocks.block.tokens, d = x.headDim
        let perm = blocks.blockOrderPermutation()
        var out = [Double](repeating: 0, count: x.heads * n * d)
        for h in 0..<x.heads {
            for block in 0..<n {
                for j in 0..<d {
                    var s = 0.0
                    for i in 0..<b {
                        let row = x.rawRow(h, Int(perm[block * b + i]))
                        switch x.element {
                        case .float32: s += Double(row.loadUnaligned(fromByteOffset: 4 * j, as: Float.self))
                        case .float16: s += Double(Float(row.loadUnaligned(fromByteOffset: 2 * j, as: Float16.self)))
                        case .bfloat16:
                            s += Double(Float(bitPattern: UInt32(row.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)) << 16))
                        }
                    }
                    out[(h * n + block) * d + j] = s / Double(b)
                }
            }
        }
        return out
    }

    @Test("pooling equals the sequential sum exactly, for float32, float16 and bfloat16 read in place",
          arguments: KernelVariant.supported, [DType.float32, .float16, .bfloat16])
    func pooling(variant: KernelVariant, dtype: DType) throws {
        // D 44: a 32-wide step, an 8-wide step and 4 left over.
        let shape = [2, 2, 8, 16, 44]
        var rng = SeededRandom(seed: 21)
        let input: QKInput
        if dtype == .float32 {
            input = randomInput(grid: TokenGrid(t: 2, h: 8, w: 16), heads: 2, headDim: 44, seed: 4)
        } else {
            let q = halfTensor("q", dtype: dtype, shape: shape, range: 30, using: &rng)
            let k = halfTensor("k", dtype: dtype, shape: shape, range: 30, using: &rng)
            let layout = try QKLayout(shape: shape, name: "q", options: LayoutOptions())
            input = try QKInput.from(q: q, k: k, v: nil, layout: layout, vLayout: nil, name: "h", halfInPlace: true)
            #expect(input.q.element != .float32)
        }
        let blocks = try BlockGrid(grid: input.grid, block: BlockShape(bt: 1, bh: 4, bw: 8))
        let pooled = KernelVariant.with(variant) { PooledBlocks(input: input, blocks: blocks) }
        #expect(pooled.qa == Self.naivePool(input.q, blocks: blocks))
        #expect(pooled.ka == Self.naivePool(input.k, blocks: blocks))
    }

    @Test("the pooled map is within rounding of the naive map, and the FMA levels agree bit for bit",
          arguments: KernelVariant.supported)
    func map(variant: KernelVariant) throws {
        let input = randomInput(grid: TokenGrid(t: 3, h: 16, w: 24), heads: 2, headDim: 72, seed: 8)
        let block = BlockShape(bt: 1, bh: 4, bw: 4)
        let map = try #require(try KernelVariant.with(variant) { try PooledMap.compute(input, block: block) })
        let naive = naiveProbabilities(input, block: block)
        var worst = 0.0
        for h in 0..<2 {
            for a in 0..<map.n {
                for b in 0..<map.n {
                    let want = naive[h][a][b], got = map.probability(head: h, query: a, key: b)
                    worst = max(worst, abs(got - want) / max(want, 1e-300))
                }
            }
        }
        // Pooled in another order than the naive raster sum, and summed differently: a few ulp.
        #expect(worst < 1e-12, "\(variant): worst relative difference \(worst)")
        if variant.name != "baseline", let best = KernelVariant.supported.last, best != variant {
            let other = try #require(try KernelVariant.with(best) { try PooledMap.compute(input, block: block) })
            #expect(other.probs == map.probs, "\(variant) and \(best) maps differ")
        }
    }

    @Test("sparse attention equals a naive attention over the kept blocks",
          arguments: KernelVariant.supported, AttentionTests.shapes)
    func sparse(variant: KernelVariant, shape: AttentionTests.Shape) throws {
        let input = AttentionTests.input(grid: shape.grid, heads: shape.heads, headDim: shape.headDim, seed: 13)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let kept = AttentionTests.randomMask(heads: shape.heads, n: blocks.count, density: 0.35, seed: 17)
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let got = KernelVariant.with(variant) { ops.sparse(KeptKeyBlocks(kept: kept, heads: shape.heads, n: blocks.count)) }
        let err = AttentionTests.relativeError(got, AttentionTests.naive(input, blocks: blocks, kept: kept))
        #expect(err < 2e-6, "\(variant): relative L2 \(err)")
    }

    /// Per head, query block and key block: the softmax mass of the key block's tokens,
    /// summed over the query block's tokens and divided by B (rows sum to 1), in Double.
    static func naiveBlockMass(_ input: QKInput, blocks: BlockGrid) -> [Double] {
        let s = input.grid.tokens, d = input.headDim, n = blocks.count, b = blocks.block.tokens
        var blockOf = [Int](repeating: 0, count: s)
        for block in 0..<n { for inner in 0..<b { blockOf[blocks.rasterToken(block: block, inner: inner)] = block } }
        var mass = [Double](repeating: 0, count: input.heads * n * n)
        for h in 0..<input.heads {
            for i in 0..<s {
                let qi = input.q.row(h, i)
                let logits = (0..<s).map { j -> Double in
                    let kj = input.k.row(h, j)
                    var dot = 0.0
                    for x in 0..<d { dot += Double(qi[x]) * Double(kj[x]) }
                    return dot / Double(d).squareRoot()
                }
                let m = logits.max()!
                let e = logits.map { Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                for j in 0..<s { mass[(h * n + blockOf[i]) * n + blockOf[j]] += e[j] / total / Double(b) }
            }
        }
        return mass
    }

    @Test("dense attention and the true block mass equal naive ones", arguments: KernelVariant.supported)
    func denseAndMass(variant: KernelVariant) throws {
        let shape = AttentionTests.shapes[0]
        let input = AttentionTests.input(grid: shape.grid, heads: shape.heads, headDim: shape.headDim, seed: 23)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let (out, mass) = KernelVariant.with(variant) { ops.denseWithBlockMass() }
        let all = [UInt8](repeating: 1, count: shape.heads * blocks.count * blocks.count)
        let err = AttentionTests.relativeError(out, AttentionTests.naive(input, blocks: blocks, kept: all))
        #expect(err < 2e-6, "\(variant): relative L2 \(err)")
        let want = Self.naiveBlockMass(input, blocks: blocks)
        let worst = zip(mass.mass, want).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-6, "\(variant): worst block mass difference \(worst)")
        // Without V (the recall's pass) the mass is the same.
        let alone = KernelVariant.with(variant) { ops.trueBlockMass() }
        #expect(alone.mass == mass.mass)
    }

    @Test("each level's FMA loop runs at a positive rate")
    func peak() {
        for v in KernelVariant.supported {
            let flops = v.measurePeakFlops(threads: 1)
            // Between 0.1 GFLOP/s and 10 TFLOP/s per thread: a loop that ran, counted as it ran.
            #expect(flops > 1e8 && flops < 1e13, "\(v): \(flops)")
        }
    }
}
