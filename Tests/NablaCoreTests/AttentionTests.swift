import Foundation
import Testing
@testable import NablaCore
import NablaTestSupport

/// The attention kernels against a naive attention written here (Double, one query at a
/// time, keys gathered from the kept blocks in raster order), and their properties.
@Suite("attention kernels")
struct AttentionTests {
    /// A random input with V, `[heads, S, D]` in raster order.
    static func input(grid: TokenGrid, heads: Int, headDim: Int, seed: UInt64) -> QKInput {
        let qk = randomInput(grid: grid, heads: heads, headDim: headDim, seed: seed, sharpness: 1)
        var rng = SeededRandom(seed: seed &+ 99)
        let v = (0..<(heads * grid.tokens * headDim)).map { _ in rng.normal() }
        return QKInput(name: "random", q: qk.q, k: qk.k, v: HeadTokens(v, heads: heads, tokens: grid.tokens, headDim: headDim),
                       grid: grid, order: .raster)
    }

    /// A random `[heads, N, N]` mask keeping about `density` of the blocks, at least one per
    /// row; row 0 of head 0 keeps exactly one block (the last).
    static func randomMask(heads: Int, n: Int, density: Double, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        var kept = [UInt8](repeating: 0, count: heads * n * n)
        for row in 0..<(heads * n) {
            for b in 0..<n where Double.random(in: 0..<1, using: &rng) < density { kept[row * n + b] = 1 }
            kept[row * n + Int.random(in: 0..<n, using: &rng)] = 1
        }
        for b in 0..<n { kept[b] = b == n - 1 ? 1 : 0 }
        return kept
    }

    /// Naive block-sparse attention: `[heads, S, D]` in raster order, Double, on whole
    /// blocks: the test targets' one token-level oracle (`NaiveAttention` in NablaTestSupport).
    static func naive(_ input: QKInput, blocks: BlockGrid, kept: [UInt8]) -> [Double] {
        NaiveAttention.blockSparse(input, BlockPartition(grid: input.grid, block: blocks.block, edge: .pad), kept: kept).out
    }

    static func relativeError(_ got: [Float], _ want: [Double]) -> Double {
        var e = 0.0, r = 0.0
        for (g, w) in zip(got, want) {
            e += (Double(g) - w) * (Double(g) - w)
            r += w * w
        }
        return (e / r).squareRoot()
    }

    struct Shape: CustomTestStringConvertible, Sendable {
        var grid: TokenGrid
        var block: BlockShape
        var heads: Int
        var headDim: Int
        var testDescription: String { "grid \(grid) block \(block) heads \(heads) D \(headDim)" }
    }

    static let shapes = [
        Shape(grid: TokenGrid(t: 2, h: 8, w: 8), block: BlockShape(bt: 1, bh: 4, bw: 4), heads: 2, headDim: 40),
        Shape(grid: TokenGrid(t: 2, h: 16, w: 16), block: .nabla, heads: 1, headDim: 72),
        Shape(grid: TokenGrid(t: 4, h: 8, w: 8), block: BlockShape(bt: 2, bh: 4, bw: 4), heads: 2, headDim: 64),
        Shape(grid: TokenGrid(t: 4, h: 8, w: 8), block: BlockShape(bt: 4, bh: 4, bw: 4), heads: 1, headDim: 128),
        Shape(grid: TokenGrid(t: 2, h: 6, w: 6), block: BlockShape(bt: 1, bh: 2, bw: 3), heads: 2, headDim: 40),
        Shape(grid: TokenGrid(t: 1, h: 32, w: 32), block: BlockShape(bt: 1, bh: 16, bw: 16), heads: 1, headDim: 72),
    ]

    @Test("sparse attention equals a naive attention over the kept blocks", arguments: shapes)
    func sparseMatchesNaive(shape: Shape) throws {
        let input = Self.input(grid: shape.grid, heads: shape.heads, headDim: shape.headDim, seed: 3)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let kept = Self.randomMask(heads: shape.heads, n: blocks.count, density: 0.3, seed: 5)
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let got = ops.sparse(KeptKeyBlocks(kept: kept, heads: shape.heads, n: blocks.count))
        let err = Self.relativeError(got, Self.naive(input, blocks: blocks, kept: kept))
        #expect(err < 2e-6, "relative L2 \(err)")
    }

    @Test("tokens stored in block order give the same output, in block order", arguments: [shapes[1], shapes[4]])
    func blockOrderInput(shape: Shape) throws {
        let raster = Self.input(grid: shape.grid, heads: shape.heads, headDim: shape.headDim, seed: 11)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let perm = blocks.blockOrderPermutation().map(Int.init)
        func reorder(_ x: HeadTokens) -> HeadTokens {
            var out = [Float]()
            for h in 0..<x.heads { for p in perm { out += UnsafeBufferPointer(start: x.row(h, p), count: x.headDim) } }
            return HeadTokens(out, heads: x.heads, tokens: x.tokens, headDim: x.headDim)
        }
        let blockOrdered = QKInput(name: "b", q: reorder(raster.q), k: reorder(raster.k), v: reorder(raster.v!),
                                   grid: shape.grid, order: .block(shape.block))
        let kept = KeptKeyBlocks(kept: Self.randomMask(heads: shape.heads, n: blocks.count, density: 0.4, seed: 2),
                                 heads: shape.heads, n: blocks.count)
        let a = try AttentionOperands(input: raster, blocks: blocks).sparse(kept)
        let b = try AttentionOperands(input: blockOrdered, blocks: blocks).sparse(kept)
        let d = shape.headDim, s = shape.grid.tokens
        for h in 0..<shape.heads {
            for (p, r) in perm.enumerated() {
                #expect(Array(a[((h * s + r) * d)..<((h * s + r + 1) * d)]) == Array(b[((h * s + p) * d)..<((h * s + p + 1) * d)]))
            }
        }
    }

    @Test("an all-ones mask gives dense attention exactly, and dense matches naive")
    func allOnesIsDense() throws {
        let shape = Self.shapes[2]
        let input = Self.input(grid: shape.grid, heads: shape.heads, headDim: shape.headDim, seed: 4)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let dense = ops.dense()
        #expect(ops.sparse(.all(heads: shape.heads, n: blocks.count)) == dense)
        let ones = [UInt8](repeating: 1, count: shape.heads * blocks.count * blocks.count)
        #expect(Self.relativeError(dense, Self.naive(input, blocks: blocks, kept: ones)) < 2e-6)
        // The error measure itself: the naive oracle's output against dense, head by head,
        // as ||a - b|| / ||b|| computed here.
        let naive = Self.naive(input, blocks: blocks, kept: ones).map(Float.init)
        let measured = relativeL2Error(naive, reference: dense, heads: shape.heads)
        let per = shape.grid.tokens * shape.headDim
        for h in 0..<shape.heads {
            let a = naive[(h * per)..<((h + 1) * per)], b = dense[(h * per)..<((h + 1) * per)]
            let num = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let den = b.reduce(0.0) { $0 + Double($1) * Double($1) }
            #expect(abs(measured.perHead[h] - (num / den).squareRoot()) < 1e-9)
        }
        #expect(measured.overall < 2e-6)
    }

    @Test("results do not depend on the thread count")
    func threadCountIndependence() throws {
        let shape = Self.shapes[1]
        let input = Self.input(grid: shape.grid, heads: 3, headDim: 64, seed: 8)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let ops = try AttentionOperands(input: input, blocks: blocks)
        let kept = KeptKeyBlocks(kept: Self.randomMask(heads: 3, n: blocks.count, density: 0.5, seed: 1), heads: 3, n: blocks.count)
        let one = ops.sparse(kept, threads: 1)
        #expect(ops.sparse(kept, threads: 3) == one)
        #expect(ops.sparse(kept) == one)
        #expect(ops.trueBlockMass(threads: 1).mass == ops.trueBlockMass(threads: 5).mass)
    }

    /// Naive true block mass: softmax over all keys per query token, summed per key block,
    /// averaged over the query block's tokens.
    static func naiveBlockMass(_ input: QKInput, blocks: BlockGrid, head h: Int) -> [Double] {
        let n = blocks.count, bt = blocks.block.tokens, d = input.headDim
        var mass = [Double](repeating: 0, count: n * n)
        for a in 0..<n {
            for inner in 0..<bt {
                let i = blocks.rasterToken(block: a, inner: inner)
                var logits = [Double](repeating: 0, count: n * bt)
                for b in 0..<n {
                    for kin in 0..<bt {
                        let j = blocks.rasterToken(block: b, inner: kin)
                        var dot = 0.0
                        for x in 0..<d { dot += Double(input.q.row(h, i)[x]) * Double(input.k.row(h, j)[x]) }
                        logits[b * bt + kin] = dot / Double(d).squareRoot()
                    }
                }
                let m = logits.max()!
                let e = logits.map { Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                for b in 0..<n {
                    mass[a * n + b] += e[(b * bt)..<((b + 1) * bt)].reduce(0, +) / total / Double(bt)
                }
            }
        }
        return mass
    }

    @Test("the true block mass equals a naive softmax; recall 1 for all-ones; oracle >= recall",
          arguments: [shapes[0], shapes[4]])
    func recall(shape: Shape) throws {
        let input = Self.input(grid: shape.grid, heads: shape.heads, headDim: shape.headDim, seed: 21)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let n = blocks.count
        // Without V: recall needs only Q and K.
        let qk = QKInput(name: "qk", q: input.q, k: input.k, grid: input.grid, order: .raster)
        let mass = try AttentionOperands(input: qk, blocks: blocks).trueBlockMass()
        let withDense = try AttentionOperands(input: input, blocks: blocks).denseWithBlockMass().mass
        #expect(withDense.mass == mass.mass)
        for h in 0..<shape.heads {
            let naive = Self.naiveBlockMass(input, blocks: blocks, head: h)
            for i in 0..<(n * n) {
                #expect(abs(mass.mass[h * n * n + i] - naive[i]) < 1e-6, "head \(h) cell \(i)")
            }
        }
        let all = mass.recall(of: .all(heads: shape.heads, n: n))
        let kept = KeptKeyBlocks(kept: Self.randomMask(heads: shape.heads, n: n, density: 0.3, seed: 9), heads: shape.heads, n: n)
        let some = mass.recall(of: kept)
        for h in 0..<shape.heads {
            #expect(abs(all.recall(slot: h) - 1) < 1e-6)
            #expect(abs(all.oracle(slot: h) - 1) < 1e-6)
            #expect(some.recall(slot: h) < 1)
            for a in 0..<n {
                let r = some.perQueryBlock[h * n + a], o = some.oraclePerQueryBlock[h * n + a]
                #expect(o >= r - 1e-12)
                // Recall of the row from the naive map, and the oracle as the best `count` blocks.
                let naive = Self.naiveBlockMass(input, blocks: blocks, head: h)
                let row = Array(naive[(a * n)..<((a + 1) * n)])
                let keptRow = (0..<Int(kept.count[h * n + a])).map { Int(kept.indices[(h * n + a) * n + $0]) }
                #expect(abs(r - keptRow.reduce(0) { $0 + row[$1] }) < 1e-6)
                #expect(abs(o - row.sorted(by: >).prefix(keptRow.count).reduce(0, +)) < 1e-6)
                if a > 2 { break }
            }
        }
    }

    @Test("recall of one head packed alone equals its slot in the all-heads run")
    func singleHead() throws {
        let shape = Self.shapes[0]
        let input = Self.input(grid: shape.grid, heads: 2, headDim: 40, seed: 6)
        let blocks = try BlockGrid(grid: shape.grid, block: shape.block)
        let kept = KeptKeyBlocks(kept: Self.randomMask(heads: 2, n: blocks.count, density: 0.3, seed: 4), heads: 2, n: blocks.count)
        let both = try AttentionOperands(input: input, blocks: blocks).sparse(kept)
        let one = try AttentionOperands(input: input, blocks: blocks, heads: [1]).sparse(kept)
        #expect(one == Array(both[(both.count / 2)...]))
    }

    @Test("float16 and bfloat16 Q/K read in place attend exactly as their widened copies",
          arguments: [DType.float16, .bfloat16])
    func halfInPlace(dtype: DType) throws {
        let shape = [2, 2, 8, 8, 40]
        var rng = SeededRandom(seed: 12)
        func tensor(_ name: String) -> RawTensor { halfTensor(name, dtype: dtype, shape: shape, range: 2, using: &rng) }
        let q = tensor("q"), k = tensor("k"), v = tensor("v")
        let layout = try QKLayout(shape: shape, name: "q", options: LayoutOptions())
        let half = try QKInput.from(q: q, k: k, v: v, layout: layout, vLayout: layout, name: "h", halfInPlace: true)
        let wide = try QKInput.from(q: q, k: k, v: v, layout: layout, vLayout: layout, name: "w")
        #expect(wide.q.element == .float32)
        let blocks = try BlockGrid(grid: half.grid, block: BlockShape(bt: 1, bh: 4, bw: 4))
        let kept = KeptKeyBlocks(kept: Self.randomMask(heads: 2, n: blocks.count, density: 0.4, seed: 3), heads: 2, n: blocks.count)
        #expect(try AttentionOperands(input: half, blocks: blocks).sparse(kept) == AttentionOperands(input: wide, blocks: blocks).sparse(kept))
    }

    @Test("every kernel level's vector exp2 is within 3 ulp of exp2, and gives 0 for -inf and far below -126", arguments: KernelVariant.supported)
    func exp2Accuracy(variant: KernelVariant) {
        var worst: Float = 0
        var x: Float = -126
        while x <= 20 {
            let v = variant.exp2((0..<16).map { x + Float($0) * 0.0137 })
            for lane in 0..<16 {
                let want = Foundation.exp2(Double(x + Float(lane) * 0.0137))
                worst = max(worst, Float(abs(Double(v[lane]) - want) / want))
            }
            x += 0.219
        }
        #expect(worst < 3 * Float.ulpOfOne, "worst relative error \(worst)")
        #expect(variant.exp2([Float](repeating: -.infinity, count: 17)) == [Float](repeating: 0, count: 17))
        // Below 2^-126: avx512 builds 2^n with VSCALEFPS, which rounds to the subnormal 2^x
        // (exactly 2^-127 here) and to 0 from -150 on; the other levels give 0 from -127 on.
        let tiny = variant.exp2([-127, -150, -200])
        #expect(tiny[0] == (variant.name == "avx512" ? Float(sign: .plus, exponent: -127, significand: 1) : 0))
        #expect(tiny[1] == 0 && tiny[2] == 0)
        #expect(variant.exp2([0])[0] == 1)
    }

    @Test("balanced chunks cover every item once, in order, with about equal cost")
    func chunks() {
        let costs = (0..<100).map { $0 % 7 == 0 ? 50 : 1 }
        let chunks = balancedChunks(costs, parts: 8)
        #expect(chunks.first?.lowerBound == 0 && chunks.last?.upperBound == 100)
        for (x, y) in zip(chunks, chunks.dropFirst()) { #expect(x.upperBound == y.lowerBound) }
        #expect(chunks.count <= 8 && chunks.count >= 6)
        let total = costs.reduce(0, +)
        for c in chunks { #expect(costs[c].reduce(0, +) <= total / 8 + 50) }
    }

    @Test("a mask too large for memory is refused with the estimate")
    func memoryEstimate() throws {
        let blocks = try BlockGrid(grid: TokenGrid(t: 64, h: 256, w: 256), block: .nabla)
        let bytes = AttentionOperands.estimatedBytes(heads: 48, blocks: blocks, headDim: 128, values: true)
        #expect(bytes > 400 << 30)
        #expect(throws: NablaError.self) {
            try AttentionOperands.checkMemory(heads: Array(0..<48), blocks: blocks, headDim: 128, values: true, what: "x")
        }
    }

    @Test("attention refuses above the memory limit in the mask's words, saying how many heads fit")
    func memoryLimit() throws {
        let blocks = try BlockGrid(grid: TokenGrid(t: 2, h: 16, w: 16), block: .nabla)
        let one = AttentionOperands.estimatedBytes(heads: 1, blocks: blocks, headDim: 32, values: true)
        let four = AttentionOperands.estimatedBytes(heads: 4, blocks: blocks, headDim: 32, values: true)
        // Independent of the per-head figure: the estimate is linear in heads.
        #expect(four == 4 * one)
        let limit = (bytes: 2 * one + one / 2, source: "NABLA_MEMORY_LIMIT")
        expectNablaError(.tooLarge, ["x.npy: attention on 4 heads needs about \(MaskMemory.text(four))",
                                     "but \(MaskMemory.text(limit.bytes)) is allowed by NABLA_MEMORY_LIMIT",
                                     "would fit: 2 of the 4 heads (a head selection such as 3,5)"]) {
            try AttentionOperands.checkMemory(heads: [3, 5, 6, 7], blocks: blocks, headDim: 32, values: true,
                                              what: "x.npy: attention on 4 heads", available: limit)
        }
        try AttentionOperands.checkMemory(heads: [3, 5, 6, 7], blocks: blocks, headDim: 32, values: true,
                                          what: "x", available: (four, "NABLA_MEMORY_LIMIT"))
    }
}

/// A float16 or bfloat16 tensor in memory, C order, values uniform in `[-range, range]`.
func halfTensor(_ name: String, dtype: DType, shape: [Int], range: Float, using rng: inout SeededRandom) -> RawTensor {
    let bits: [UInt16] = (0..<shape.reduce(1, *)).map { _ in
        let f = Float.random(in: -range...range, using: &rng)
        return dtype == .float16 ? floatToHalf(f) : floatToBFloat16(f)
    }
    let box = DataBox(bits.withUnsafeBytes { Data($0) })
    return RawTensor(name: name, dtype: dtype, shape: shape, byteOrder: .native, fortranOrder: false,
                     bytes: box.bytes, owner: box)
}
