import Foundation
import Testing
@testable import NablaCore

@Suite("NABLA masks")
struct MaskTests {
    static let grid = TokenGrid(t: 4, h: 16, w: 16)
    static let input = randomInput(grid: grid, heads: 3, headDim: 24, seed: 7)

    static func map(_ block: BlockShape = .nabla, _ input: QKInput = input) throws -> PooledMap {
        try #require(try PooledMap.compute(input, block: block))
    }

    @Test("the pooled map equals a naive softmax of pooled dot products",
          arguments: [BlockShape.nabla, BlockShape(bt: 1, bh: 4, bw: 4), BlockShape(bt: 2, bh: 8, bw: 8), BlockShape(bt: 4, bh: 4, bw: 4)])
    func pooledMap(block: BlockShape) throws {
        let map = try Self.map(block)
        let naive = naiveProbabilities(Self.input, block: block)
        for h in 0..<map.heads {
            for a in 0..<map.n {
                var sum = 0.0
                for b in 0..<map.n {
                    let p = map.probability(head: h, query: a, key: b)
                    #expect(abs(p - naive[h][a][b]) <= 1e-12 * max(1, naive[h][a][b]))
                    sum += p
                }
                #expect(abs(sum - 1) < 1e-12)
            }
        }
    }

    @Test("the cut equals a naive sort-and-sum cut", arguments: [0.0, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0])
    func cutMatchesNaive(threshold: Double) throws {
        let map = try Self.map()
        let mask = map.cut(MaskSettings(threshold: threshold))
        for h in 0..<map.heads {
            for a in 0..<map.n {
                let row = (0..<map.n).map { map.probability(head: h, query: a, key: $0) }
                let expected = naiveCut(row, threshold: threshold)
                let got = (0..<map.n).map { mask.isKept(head: h, query: a, key: $0) }
                #expect(got == expected, "head \(h) row \(a)")
            }
        }
    }

    @Test("a higher threshold never drops a block")
    func monotone() throws {
        let map = try Self.map(BlockShape(bt: 1, bh: 4, bw: 4))
        var previous = map.cut(MaskSettings(threshold: 0)).kept
        for step in 1...40 {
            let current = map.cut(MaskSettings(threshold: Double(step) / 40)).kept
            #expect(zip(previous, current).allSatisfy { $0 <= $1 })
            previous = current
        }
    }

    @Test("thr 1 keeps every block; thr 0 keeps exactly the row's largest")
    func extremes() throws {
        let map = try Self.map()
        let all = map.cut(MaskSettings(threshold: 1))
        #expect(all.kept.allSatisfy { $0 == 1 })
        #expect(all.statistics.overallDensity == 1)
        let one = map.cut(MaskSettings(threshold: 0))
        for h in 0..<map.heads {
            for a in 0..<map.n {
                let kept = (0..<map.n).filter { one.isKept(head: h, query: a, key: $0) }
                #expect(kept.count == 1)
                let row = (0..<map.n).map { map.probability(head: h, query: a, key: $0) }
                #expect(row[kept[0]] == row.max())
            }
        }
        #expect(one.statistics.overallDensity == 1 / Double(map.n))
    }

    @Test("the STA union contains both parts and nothing else",
          arguments: [STAWindow(wt: 1, wh: 1, ww: 1), STAWindow(wt: 3, wh: 3, ww: 3), .kandinsky, STAWindow(wt: 2, wh: 5, ww: 1)])
    func staUnion(window: STAWindow) throws {
        let map = try Self.map()
        let nabla = map.cut(MaskSettings(threshold: 0.6))
        let union = map.cut(MaskSettings(threshold: 0.6, sta: window))
        let n = map.n
        let blocks = map.blocks
        for h in 0..<map.heads {
            for a in 0..<n {
                for b in 0..<n {
                    let ca = blocks.coordinates(of: a), cb = blocks.coordinates(of: b)
                    let inWindow = abs(ca.t - cb.t) <= window.wt / 2 && abs(ca.i - cb.i) <= window.wh / 2
                        && abs(ca.j - cb.j) <= window.ww / 2
                    #expect(union.isKept(head: h, query: a, key: b) == (inWindow || nabla.isKept(head: h, query: a, key: b)))
                }
            }
        }
    }

    @Test("statistics agree with naive counts over the mask")
    func statistics() throws {
        let map = try Self.map()
        let mask = map.cut(MaskSettings(threshold: 0.8, sta: STAWindow(wt: 3, wh: 1, ww: 1)))
        let n = map.n, tb = map.blocks.tb, per = map.blocks.blocksPerSlab
        for h in 0..<map.heads {
            var kept = 0, mass = 0.0
            var cov = [Double](repeating: 0, count: tb * tb)
            for a in 0..<n {
                for b in 0..<n where mask.isKept(head: h, query: a, key: b) {
                    kept += 1
                    mass += map.probability(head: h, query: a, key: b)
                    cov[(a / per) * tb + b / per] += 1
                }
            }
            #expect(mask.statistics.keptBlocks[h] == kept)
            #expect(mask.statistics.density[h] == Double(kept) / Double(n * n))
            // Sequential sum within (N^2 - 1) u, the engine's within (N + N/8 + 3) u of the mass (Higham 4.2).
            #expect(abs(mask.statistics.massKept[h] - mass / Double(n)) <= Double(n * n + n + n / 8 + 5) * 0x1p-53 * mass / Double(n))
            for a in 0..<tb { for b in 0..<tb {
                #expect(mask.statistics.coverage(head: h, querySlab: a, keySlab: b) == cov[a * tb + b] / Double(per * per))
            } }
        }
    }

    @Test("BlockMask rows list kept blocks ascending, then the rest ascending")
    func kvRows() throws {
        let map = try Self.map()
        let mask = map.cut(MaskSettings(threshold: 0.7))
        let (num, idx) = mask.kvRows()
        let n = map.n
        for h in 0..<map.heads {
            for a in 0..<n {
                let kept = (0..<n).filter { mask.isKept(head: h, query: a, key: $0) }
                let dropped = (0..<n).filter { !mask.isKept(head: h, query: a, key: $0) }
                #expect(Int(num[h * n + a]) == kept.count)
                #expect(idx[((h * n + a) * n)..<((h * n + a + 1) * n)].map(Int.init) == kept + dropped)
            }
        }
    }

    @Test("a stored block order pools to the same map as raster order")
    func storedOrderDoesNotMatter() throws {
        let raster = Self.input
        let perm = try BlockGrid(grid: raster.grid, block: .nabla).blockOrderPermutation()
        func reorder(_ x: HeadTokens) -> HeadTokens {
            var out: [Float] = []
            for h in 0..<x.heads { for p in perm { out.append(contentsOf: UnsafeBufferPointer(start: x.row(h, Int(p)), count: x.headDim)) } }
            return HeadTokens(out, heads: x.heads, tokens: x.tokens, headDim: x.headDim)
        }
        let blockOrdered = QKInput(name: "b", q: reorder(raster.q), k: reorder(raster.k), grid: raster.grid, order: .block(.nabla))
        for block in BlockShape.standard where block.divides(raster.grid) {
            #expect(try Self.map(block, blockOrdered).probs == Self.map(block, raster).probs)
        }
    }

    @Test("ties in probability break toward the higher index, as a stable ascending sort does")
    func ties() throws {
        // Identical keys make every probability in a row equal: thr 0 keeps the last index.
        let g = TokenGrid(t: 1, h: 16, w: 16)
        let q = HeadTokens([Float](repeating: 0.5, count: 256 * 8), heads: 1, tokens: 256, headDim: 8)
        let input = QKInput(name: "flat", q: q, k: q, grid: g, order: .raster)
        let mask = try Self.map(.nabla, input).cut(MaskSettings(threshold: 0))
        for a in 0..<4 {
            #expect((0..<4).map { mask.isKept(head: 0, query: a, key: $0) } == [false, false, false, true])
        }
    }

    @Test("a block shape that does not divide the grid gets partial edge blocks (issue 18)")
    func partialEdgeBlocks() throws {
        let map = try #require(try PooledMap.compute(Self.input, block: BlockShape(bt: 3, bh: 8, bw: 8)))
        #expect(map.blocks.description == "2x2x2" && map.blocks.tokens(inBlock: 7) == 64)
        #expect(map.blocks.edgeText == "edge pad: block 3x8x8 does not divide grid 4x16x16; block grid 2x2x2 (ceiling), 4 partial edge blocks (last frame slab 1 of 3 frames), every token kept")
    }
}

@Suite("half-precision inputs pooled in place")
struct HalfPoolingTests {
    /// float16 and bfloat16 Q/K read as 16-bit views pool to exactly what the widened
    /// `Float` copy pools to (every 16-bit value is a `Float`), so the maps are equal.
    @Test("in-place 16-bit pooling equals pooling the widened copy", arguments: [DType.float16, .bfloat16])
    func inPlaceEqualsWidened(dtype: DType) throws {
        let shape = [3, 2, 16, 16, 40] // D 40: a 32-wide step, an 8-wide step and none left
        let count = shape.reduce(1, *)
        var rng = SeededRandom(seed: 9)
        func tensor(_ name: String) -> RawTensor {
            let bits: [UInt16] = (0..<count).map { _ in
                let f = Float.random(in: -3...3, using: &rng)
                return dtype == .float16 ? floatToHalf(f) : floatToBFloat16(f)
            }
            let data = bits.withUnsafeBytes { Data($0) }
            let box = DataBox(data)
            return RawTensor(name: name, dtype: dtype, shape: shape, byteOrder: .native, fortranOrder: false,
                             bytes: box.bytes, owner: box)
        }
        let q = tensor("q"), k = tensor("k")
        let layout = try QKLayout(shape: shape, name: "q", options: LayoutOptions())
        let half = try QKInput.from(q: q, k: k, v: nil, layout: layout, vLayout: nil, name: "h", halfInPlace: true)
        let wide = try QKInput.from(q: q, k: k, v: nil, layout: layout, vLayout: nil, name: "w")
        #expect(half.q.element != .float32)
        #expect(wide.q.element == .float32)
        let a = try #require(try PooledMap.compute(half, block: .nabla))
        let b = try #require(try PooledMap.compute(wide, block: .nabla))
        #expect(a.probs == b.probs)
        // A selection of evenly spaced heads stays in place and pools like those heads.
        let picked = try QKInput.from(q: q, k: k, v: nil, layout: layout, vLayout: nil, name: "p",
                                      heads: HeadSelection([0, 2]), halfInPlace: true)
        #expect(picked.q.element == (dtype == .float16 ? TokenElement.float16 : .bfloat16))
        let c = try #require(try PooledMap.compute(picked, block: .nabla))
        let n2 = b.n * b.n
        #expect(Array(c.probs[0..<n2]) == Array(b.probs[0..<n2]))
        #expect(Array(c.probs[n2..<(2 * n2)]) == Array(b.probs[(2 * n2)..<(3 * n2)]))
    }
}

extension HalfPoolingTests {
    @Test("a NaN or infinity in a 16-bit view is found where it is, in place and widened",
          arguments: [(DType.float16, UInt16(0x7C00)), (.bfloat16, UInt16(0x7F80)), (.float16, UInt16(0xFE00))])
    func nonFiniteHalf(dtype: DType, bad: UInt16) throws {
        let shape = [3, 1, 8, 8, 20]
        var bits = [UInt16](repeating: dtype == .float16 ? 0x3C00 : 0x3F80, count: shape.reduce(1, *))
        // Head 1, token 5, dim 17; and a later one in head 2 that must not be reported.
        bits[((1 * 64) + 5) * 20 + 17] = bad
        bits[((2 * 64) + 0) * 20 + 3] = bad
        let box = bits.withUnsafeBytes { DataBox(Data($0)) }
        let raw = RawTensor(name: "q16", dtype: dtype, shape: shape, byteOrder: .native, fortranOrder: false,
                            bytes: box.bytes, owner: box)
        let layout = try QKLayout(shape: shape, name: "q16", options: LayoutOptions())
        for inPlace in [true, false] {
            let e = #expect(throws: NablaError.self) {
                try QKInput.from(q: raw, k: raw, v: nil, layout: layout, vLayout: nil, name: "x", halfInPlace: inPlace)
            }
            #expect(e?.code == .nonFinite)
            #expect(e?.message.contains("[1, 0, 0, 5, 17] (head 1, token 5, dim 17)") == true, "\(e?.message ?? "")")
        }
    }
}

/// Bytes kept alive for a `RawTensor` made in memory.
final class DataBox {
    let storage: UnsafeMutableRawBufferPointer
    init(_ data: Data) {
        storage = .allocate(byteCount: data.count, alignment: 64)
        // Copied inside withUnsafeBytes: a pointer taken from a temporary NSData may dangle.
        data.withUnsafeBytes { storage.copyMemory(from: $0) }
    }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(storage) }
    deinit { storage.deallocate() }
}
