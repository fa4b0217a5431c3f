import Foundation
import Testing
@testable import NablaCore

/// Each sparse-attention method's mask against a reference written here from the method's
/// published definition (token by token, in raster order), and the properties every
/// method must have.
@Suite("Sparse attention methods")
struct MethodTests {
    static let grid = TokenGrid(t: 6, h: 8, w: 8)
    static let block = BlockShape(bt: 1, bh: 4, bw: 4)
    static let input = randomInput(grid: grid, heads: 2, headDim: 8, seed: 21)
    static let blocks = try! BlockGrid(grid: grid, block: block)

    static func context(_ input: QKInput = input, _ blocks: BlockGrid = blocks) throws -> MethodContext {
        try MethodContext(input: input, blocks: blocks)
    }

    static func kept(_ m: any SparseMethod, _ c: MethodContext) throws -> [UInt8] {
        try #require(try m.kept(c))
    }

    /// The block (raster over the block grid) of raster token `s`.
    static func blockOf(_ s: Int, _ g: TokenGrid, _ b: BlockShape) -> Int {
        let x = s % g.w, y = (s / g.w) % g.h, t = s / (g.w * g.h)
        return ((t / b.bt) * (g.h / b.bh) + y / b.bh) * (g.w / b.bw) + x / b.bw
    }

    @Test("nabla wraps the engine's cut: the same mask as PooledMap.cut, with and without STA")
    func nabla() throws {
        let c = try Self.context()
        let map = try #require(try PooledMap.compute(Self.input, block: Self.block))
        for settings in [MaskSettings(threshold: 0.7), MaskSettings(threshold: 0.5, sta: STAWindow(wt: 3, wh: 1, ww: 1))] {
            #expect(try Self.kept(NablaMethod(settings), c) == map.cut(settings).kept)
        }
    }

    @Test("vsa keeps, per row, the ceil(keep N) largest entries of the naive pooled map", arguments: [0.05, 0.25, 0.5, 1.0])
    func vsa(keep: Double) throws {
        let probs = naiveProbabilities(Self.input, block: Self.block)
        let n = Self.blocks.count, k = Int((keep * Double(n)).rounded(.up))
        let got = try Self.kept(VSAMethod(keep: keep), try Self.context())
        for h in 0..<2 {
            for a in 0..<n {
                let row = probs[h][a]
                let want = Set(row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(max(k, 1)))
                let have = Set((0..<n).filter { got[(h * n + a) * n + $0] != 0 })
                #expect(have == want, "head \(h), row \(a)")
            }
        }
        #expect(try SparseMethods.type(named: "topk") == VSAMethod.self)
    }

    /// XAttention by its definition, token by token: antidiagonal sums of raw scores inside
    /// each `stride x stride` tile of the block-ordered score matrix, softmax over key
    /// groups, block sums, then the cumulative threshold and key block 0.
    static func naiveXAttention(_ input: QKInput, _ blocks: BlockGrid, threshold: Double, stride s: Int) -> [UInt8] {
        let g = blocks.grid, d = input.headDim, n = blocks.count, bs = blocks.block.tokens
        // Raster token of each block-order position, from the block coordinates.
        var order: [Int] = []
        for b in 0..<n {
            let (t, i, j) = blocks.coordinates(of: b)
            for f in 0..<blocks.block.bt { for y in 0..<blocks.block.bh { for x in 0..<blocks.block.bw {
                order.append(((t * blocks.block.bt + f) * g.h + i * blocks.block.bh + y) * g.w + j * blocks.block.bw + x)
            } } }
        }
        var out = [UInt8](repeating: 0, count: input.heads * n * n)
        for h in 0..<input.heads {
            func dotQK(_ p: Int, _ r: Int) -> Double {
                let q = input.q.row(h, order[p]), k = input.k.row(h, order[r])
                return (0..<d).reduce(0) { $0 + Double(q[$1]) * Double(k[$1]) }
            }
            let groups = g.tokens / s
            var imp = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for gi in 0..<groups {
                let logits = (0..<groups).map { gj in
                    (0..<s).reduce(0.0) { $0 + dotQK(gi * s + s - 1 - $1, gj * s + $1) } / (Double(d).squareRoot() * Double(s))
                }
                let m = logits.max()!
                let e = logits.map { Foundation.exp($0 - m) }
                let z = e.reduce(0, +)
                for gj in 0..<groups { imp[gi * s / bs][gj * s / bs] += e[gj] / z }
            }
            for a in 0..<n {
                let row = imp[a], total = row.reduce(0, +)
                var before = 0.0
                for b in row.indices.sorted(by: { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }) {
                    if before >= threshold * total { break }
                    out[(h * n + a) * n + b] = 1
                    before += row[b]
                }
                out[(h * n + a) * n] = 1
            }
        }
        return out
    }

    @Test("xattention equals its definition computed token by token", arguments: [(0.5, 4), (0.9, 8), (0.95, 2)])
    func xattention(threshold: Double, stride: Int) throws {
        let got = try Self.kept(XAttentionMethod(threshold: threshold, stride: stride), try Self.context())
        #expect(got == Self.naiveXAttention(Self.input, Self.blocks, threshold: threshold, stride: stride))
    }

    @Test("xattention refuses a stride that does not divide the block, naming the method")
    func xattentionStride() throws {
        #expect(throws: NablaError.self) { try XAttentionMethod(threshold: 0.9, stride: 3).kept(try Self.context()) }
        do {
            _ = try XAttentionMethod(threshold: 0.9, stride: 3).kept(try Self.context())
        } catch let e as NablaError {
            #expect(e.message.contains("xattention") && e.message.contains("16"))
        }
    }

    /// Radial Attention's token mask (radial_attn/attn_mask.py, hunyuan), then the strict
    /// shrink of every frame pair's tile pair, ORed over frame pairs: written from the code's
    /// description, on the whole token grid.
    static func naiveRadial(_ blocks: BlockGrid, decay: Double) -> [UInt8] {
        let g = blocks.grid, bl = blocks.block, n = blocks.count
        let tpf = g.h * g.w
        func bitLength(_ x: Int) -> Int { x == 0 ? 0 : Int(log2(Double(x))) + 1 }
        let p = Double(1 << bitLength(tpf)), thresholdTokens = Double(bl.bh * bl.bw)
        func tokenKept(_ fi: Int, _ ri: Int, _ fj: Int, _ rj: Int) -> Bool {
            if fj == 0 { return true }
            let dist = abs(fi - fj), group = bitLength(dist)
            let decayLength = p / Double(1 << group)
            var split = true
            if decayLength < thresholdTokens { split = dist % Int(thresholdTokens / decayLength) == 0 }
            let window = dist <= 1 ? Double(tpf) : max(decayLength * decay, thresholdTokens)
            return split && Double(abs(ri - rj)) <= window
        }
        var out = [UInt8](repeating: 0, count: n * n)
        for a in 0..<n {
            let (ta, ia, ja) = blocks.coordinates(of: a)
            for b in 0..<n {
                let (tb, ib, jb) = blocks.coordinates(of: b)
                var keep = false
                for fi in (ta * bl.bt)..<((ta + 1) * bl.bt) { for fj in (tb * bl.bt)..<((tb + 1) * bl.bt) {
                    var nonzero = 0, dense = 0
                    for yk in 0..<bl.bh { for xk in 0..<bl.bw {
                        let rj = (ib * bl.bh + yk) * g.w + jb * bl.bw + xk
                        var count = 0
                        for yq in 0..<bl.bh { for xq in 0..<bl.bw where tokenKept(fi, (ia * bl.bh + yq) * g.w + ja * bl.bw + xq, fj, rj) {
                            count += 1
                        } }
                        if count > 0 { nonzero += 1 }
                        if Double(count) / Double(bl.bh * bl.bw) > 1.0 / 3 { dense += 1 }
                    } }
                    if Double(dense) / (Double(nonzero) + 1e-9) > 0.6 { keep = true }
                } }
                out[a * n + b] = keep ? 1 : 0
            }
        }
        return out
    }

    @Test("radial equals the token-level mask shrunk block by block, for one- and two-frame blocks",
          arguments: [(BlockShape(bt: 1, bh: 4, bw: 4), 1.0), (BlockShape(bt: 1, bh: 2, bw: 4), 0.25), (BlockShape(bt: 2, bh: 4, bw: 4), 0.5)])
    func radial(block: BlockShape, decay: Double) throws {
        let grid = TokenGrid(t: 20, h: 8, w: 8)
        let blocks = try BlockGrid(grid: grid, block: block)
        let want = Self.naiveRadial(blocks, decay: decay)
        #expect(RadialMethod.pattern(blocks, decayFactor: decay) == want)
        // Beyond distance 16 the split rule leaves odd distances out, and the sink column stays.
        #expect(want.contains(0) && want.contains(1))
    }

    @Test("the static methods equal their masks from the grid alone, whatever Q/K")
    func staticMethods() throws {
        let other = randomInput(grid: Self.grid, heads: 2, headDim: 8, seed: 99, sharpness: 0.5)
        let methods: [any SparseMethod] = [STAMethod(STAWindow(wt: 3, wh: 1, ww: 3)), RadialMethod(decayFactor: 0.5)]
        for m in methods {
            #expect(type(of: m).isStatic)
            let a = try Self.kept(m, try Self.context()), b = try Self.kept(m, try Self.context(other))
            #expect(a == b)
            let pattern = m is STAMethod ? staPattern(Self.blocks, window: STAWindow(wt: 3, wh: 1, ww: 3))
                : RadialMethod.pattern(Self.blocks, decayFactor: 0.5)
            #expect(a == pattern + pattern)
        }
    }

    @Test("svg: the spatial band in raster order, the temporal one in the transposed order, each head the lower sampled error")
    func svg() throws {
        let input = randomInput(grid: Self.grid, heads: 2, headDim: 8, seed: 5)
        var v = [Float](repeating: 0, count: 2 * Self.grid.tokens * 8)
        var rng = SeededRandom(seed: 3)
        for i in v.indices { v[i] = rng.normal() }
        let withV = QKInput(name: "v", q: input.q, k: input.k, v: HeadTokens(v, heads: 2, tokens: Self.grid.tokens, headDim: 8),
                            grid: Self.grid, order: .raster)
        let blocks = Self.blocks, n = blocks.count, width = 1.5
        let band = Int(width * Double(blocks.blocksPerSlab))
        for (a, b) in [(0, 1), (5, 9)] {
            #expect((SVGMethod.pattern(blocks, width: width, temporal: false)[a * n + b] != 0) == (abs(a - b) < band))
        }
        // Temporal: block (t, i, j) sits at (i * wb + j) * tb + t.
        for a in 0..<n { for b in 0..<n {
            let (ta, ia, ja) = blocks.coordinates(of: a), (tb, ib, jb) = blocks.coordinates(of: b)
            let pa = (ia * blocks.wb + ja) * blocks.tb + ta, pb = (ib * blocks.wb + jb) * blocks.tb + tb
            #expect((SVGMethod.pattern(blocks, width: width, temporal: true)[a * n + b] != 0) == (abs(pa - pb) < band))
        } }
        // The choice, against dense attention on the sampled rows computed here.
        for data in [input, withV] {
            let m = SVGMethod(width: width, samples: 16)
            let got = try Self.kept(m, try Self.context(data))
            let spatial = SVGMethod.pattern(blocks, width: width, temporal: false)
            let temporal = SVGMethod.pattern(blocks, width: width, temporal: true)
            var perm = [Int](repeating: 0, count: Self.grid.tokens)  // block-order position -> raster token
            for s in 0..<Self.grid.tokens {
                let blk = Self.blockOf(s, Self.grid, Self.block)
                let before = (0..<s).filter { Self.blockOf($0, Self.grid, Self.block) == blk }.count
                perm[blk * Self.block.tokens + before] = s
            }
            for h in 0..<2 {
                var err = [0.0, 0.0]
                for p in SVGMethod.sampledRows(tokens: Self.grid.tokens, samples: 16, head: h) {
                    let s = perm[p], a = Self.blockOf(s, Self.grid, Self.block)
                    let w = (0..<Self.grid.tokens).map { r in
                        Foundation.exp((0..<8).reduce(0.0) { $0 + Double(data.q.row(h, s)[$1]) * Double(data.k.row(h, r)[$1]) } / 8.0.squareRoot())
                    }
                    func out(_ mask: [UInt8]?) -> (Double, [Double]) {
                        let keys = (0..<Self.grid.tokens).filter { mask == nil || mask![a * n + Self.blockOf($0, Self.grid, Self.block)] != 0 }
                        let z = keys.reduce(0) { $0 + w[$1] }
                        let o = (0..<8).map { c in keys.reduce(0.0) { $0 + w[$1] * Double(data.v?.row(h, $1)[c] ?? 0) } / z }
                        return (z, o)
                    }
                    let dense = out(nil)
                    for (i, mask) in [spatial, temporal].enumerated() {
                        let o = out(mask)
                        err[i] += data.v == nil ? 1 - o.0 / dense.0 : zip(o.1, dense.1).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                    }
                }
                let want = err[1] < err[0] ? temporal : spatial
                #expect(Array(got[(h * n * n)..<((h + 1) * n * n)]) == want, "head \(h), V \(data.v != nil)")
            }
        }
    }

    @Test("the oracle's recall is never below any method's with the same per-row counts")
    func oracleBound() throws {
        let c = try Self.context()
        let mass = try #require(try c.trueMass())
        let n = Self.blocks.count
        let methods: [any SparseMethod] = [NablaMethod(MaskSettings(threshold: 0.8)), STAMethod(STAWindow(wt: 3, wh: 3, ww: 1)),
                                           VSAMethod(keep: 0.2), XAttentionMethod(threshold: 0.8, stride: 4),
                                           RadialMethod(decayFactor: 1), SVGMethod(width: 1)]
        for m in methods {
            let kept = try Self.kept(m, c)
            let oracle = OracleMethod.kept(matching: kept, mass: mass)
            for row in 0..<(2 * n) {
                let slice = (row * n)..<((row + 1) * n)
                #expect(kept[slice].filter { $0 != 0 }.count == oracle[slice].filter { $0 != 0 }.count)
                let got = slice.reduce(0.0) { $0 + (kept[$1] != 0 ? mass.mass[$1] : 0) }
                let best = slice.reduce(0.0) { $0 + (oracle[$1] != 0 ? mass.mass[$1] : 0) }
                #expect(best >= got - 1e-12, "\(m) row \(row)")
            }
        }
        // The oracle at keep = 1 / N keeps each row's heaviest block.
        let top = try Self.kept(OracleMethod(keep: 1.0 / Double(n)), c)
        for row in 0..<(2 * n) {
            let slice = Array(mass.mass[(row * n)..<((row + 1) * n)])
            #expect(top[row * n + slice.indices.max { slice[$0] < slice[$1] }!] == 1)
        }
    }

    @Test("the sweep's rows grow in density with the parameter, and recall with them for nested masks")
    func sweepMonotone() throws {
        let sweep = try MethodSweep(context: try Self.context(), methods: SparseMethods.all)
        #expect(sweep.curves.map(\.name) == ["nabla", "sta", "vsa", "xattention", "radial", "svg", "oracle"])
        for curve in sweep.curves where curve.name != "radial" {
            let d = curve.rows.map(\.meanDensity)
            #expect(zip(d, d.dropFirst()).allSatisfy { $0 <= $1 + 1e-12 }, "\(curve.name): \(d)")
            if ["nabla", "vsa", "xattention", "oracle", "sta"].contains(curve.name) {
                let r = curve.rows.map(\.meanRecall)
                #expect(zip(r, r.dropFirst()).allSatisfy { $0 <= $1 + 1e-9 }, "\(curve.name): \(r)")
            }
        }
        // STA's windows are nested, each holding the previous one.
        for blocks in [Self.blocks, try BlockGrid(grid: TokenGrid(t: 16, h: 32, w: 48), block: .nabla)] {
            let windows = STAMethod.sweep(blocks).map(\.window)
            #expect(windows.count >= 5, "\(windows)")
            #expect(zip(windows, windows.dropFirst()).allSatisfy { $0.wt <= $1.wt && $0.wh <= $1.wh && $0.ww <= $1.ww })
        }
        // Every curve reaches below 20% and above 40% density on this grid except the static radial.
        for curve in sweep.curves where !curve.isStatic {
            #expect(curve.rows.first!.meanDensity < 0.2 && curve.rows.last!.meanDensity > 0.4, "\(curve.name)")
        }
        let oracle = sweep.curves.last!
        for c in sweep.curves.indices.dropLast() {
            for d in [0.15, 0.3] {
                if let r = sweep.recall(curve: c, at: d), let o = sweep.recall(curve: sweep.curves.count - 1, at: d) {
                    #expect(o >= r - 0.02, "oracle \(o) vs \(sweep.curves[c].name) \(r) at \(d)")
                }
            }
        }
        _ = oracle
    }

    @Test("bad parameters: an unknown method lists the known ones, a value out of range names the method and the range")
    func badInput() {
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch let e as NablaError { return e.message } catch { return "\(error)" }
            return ""
        }
        let unknown = message { _ = try SparseMethods.make("flash", MethodValues()) }
        #expect(unknown.contains("unknown method 'flash'") && unknown.contains("nabla") && unknown.contains("svg") && unknown.contains("oracle"))
        let range = message { _ = try SparseMethods.make("vsa", MethodValues(["keep": "1.5"])) }
        #expect(range.contains("vsa") && range.contains("keep") && range.contains("[0, 1]"))
        let missing = message { _ = try SparseMethods.make("vsa", MethodValues()) }
        #expect(missing.contains("needs --keep"))
        let extra = message { _ = try SparseMethods.make("radial", MethodValues(["keep": "0.1"])) }
        #expect(extra.contains("radial takes no --keep") && extra.contains("--decay-factor"))
        let stride = message { _ = try SparseMethods.make("xattention", MethodValues(["stride": "2.5"])) }
        #expect(stride.contains("whole number"))
        #expect(message { _ = try MaskSpec(parsing: "method=vsa,keep=0.1") } == "")
        #expect(message { _ = try MaskSpec(parsing: "method=nope") }.contains("known methods"))
    }

    @Test("a method's mask spec makes the method's mask, for nabla diff and the compare view")
    func spec() throws {
        var maps: [BlockShape: PooledMap] = [:]
        let spec = try MaskSpec(parsing: "method=xattention,threshold=0.8,stride=4").withDefaultBlock(Self.block)
        let m = try SpecifiedMask.make(spec, input: Self.input, maps: &maps)
        #expect(m.kept == Self.naiveXAttention(Self.input, Self.blocks, threshold: 0.8, stride: 4))
        #expect(spec.description.hasPrefix("xattention threshold 0.8 stride 4"))
    }
}

@Suite("Method labels")
struct MethodLabelTests {
    @Test("a method's label names each parameter once: sta 3x7x11 (not sta sta 3x7x11), vsa keep 0.1")
    func labels() throws {
        #expect(try SparseMethods.make("sta", MethodValues(["sta": "3x7x11"])).description == "sta 3x7x11")
        #expect(try SparseMethods.make("vsa", MethodValues(["keep": "0.1"])).description == "vsa keep 0.1")
        #expect(try MaskSpec(parsing: "method=sta,sta=3x7x11").description.hasPrefix("sta 3x7x11"))
    }
}
