import Foundation
import Testing
@testable import NablaCore

/// Every method on block grids with partial edge blocks (`--edge pad`, a grid the block
/// does not divide), against references written here token by token in raster order:
/// blocks hold their real tokens only, pooled Q/K are means over them, a partial key
/// block's pooled logit gets `+ log(count / B)`, the true mass sums real tokens.
@Suite("Sparse attention methods on partial edge blocks")
struct MethodEdgeTests {
    static let grid = TokenGrid(t: 3, h: 17, w: 23)
    static let block = BlockShape(bt: 1, bh: 8, bw: 8)
    static let input = randomInput(grid: grid, heads: 2, headDim: 8, seed: 34)
    static let blocks = try! BlockGrid(grid: grid, block: block, edge: .pad)

    /// The block of raster token `s`, from its coordinates (ceil-divided block grid).
    static func blockOf(_ s: Int, _ g: TokenGrid, _ b: BlockShape) -> Int {
        let x = s % g.w, y = (s / g.w) % g.h, t = s / (g.w * g.h)
        let hb = (g.h + b.bh - 1) / b.bh, wb = (g.w + b.bw - 1) / b.bw
        return ((t / b.bt) * hb + y / b.bh) * wb + x / b.bw
    }

    /// The raster tokens of every block, ascending (the block order inside a block).
    static func members(_ g: TokenGrid, _ b: BlockShape, n: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: n)
        for s in 0..<g.tokens { out[blockOf(s, g, b)].append(s) }
        return out
    }

    static func dot(_ input: QKInput, _ h: Int, _ i: Int, _ j: Int) -> Double {
        let q = input.q.row(h, i), k = input.k.row(h, j)
        return (0..<input.headDim).reduce(0.0) { $0 + Double(q[$1]) * Double(k[$1]) }
    }

    static func rowSet(_ kept: [UInt8], _ h: Int, _ a: Int, _ n: Int) -> Set<Int> {
        Set((0..<n).filter { kept[(h * n + a) * n + $0] != 0 })
    }

    @Test("the grid has partial blocks and the context takes it: each block's real tokens, in block order")
    func context() throws {
        #expect(!Self.blocks.isUniform && Self.blocks.count == 27)
        let c = try MethodContext(input: Self.input, blocks: Self.blocks)
        let m = Self.members(Self.grid, Self.block, n: 27)
        #expect((0..<27).map { c.tokens(inBlock: $0) } == m.map(\.count))
        #expect(Set(m.map(\.count)) == [64, 56, 8, 7])
        // Block order holds each block's raster tokens, ascending, one block after another.
        let q = c.tokens("q", head: 1)
        for (b, tokens) in m.enumerated() {
            for (i, s) in tokens.enumerated() {
                #expect(q[(c.blockStarts[b] + i) * 8 + 3] == Self.input.q.row(1, s)[3])
            }
        }
    }

    @Test("vsa: top ceil(keep N) of the naive pooled map (means over real tokens, + log(count/B) on keys)", arguments: [0.1, 0.3, 0.6])
    func vsa(keep: Double) throws {
        let n = 27, d = 8, m = Self.members(Self.grid, Self.block, n: n)
        let got = try #require(try VSAMethod(keep: keep).kept(try MethodContext(input: Self.input, blocks: Self.blocks)))
        let k = Int((keep * Double(n)).rounded(.up))
        for h in 0..<2 {
            func mean(_ x: HeadTokens, _ b: Int) -> [Double] {
                (0..<d).map { j in m[b].reduce(0.0) { $0 + Double(x.row(h, $1)[j]) } / Double(m[b].count) }
            }
            let qm = (0..<n).map { mean(Self.input.q, $0) }, km = (0..<n).map { mean(Self.input.k, $0) }
            for a in 0..<n {
                let logits = (0..<n).map { b in
                    (0..<d).reduce(0.0) { $0 + qm[a][$1] * km[b][$1] } / Double(d).squareRoot() + log(Double(m[b].count) / 64)
                }
                let want = Set(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(k))
                #expect(Self.rowSet(got, h, a, n) == want, "head \(h) row \(a)")
            }
        }
    }

    /// `[heads][N][N]`: per query block the softmax mass on each key block, averaged over
    /// the block's real query tokens.
    static func naiveMass(_ input: QKInput, _ g: TokenGrid, _ b: BlockShape, n: Int) -> [[[Double]]] {
        let m = members(g, b, n: n), s = g.tokens
        return (0..<input.heads).map { h in
            (0..<n).map { a in
                var row = [Double](repeating: 0, count: n)
                for i in m[a] {
                    let l = (0..<s).map { dot(input, h, i, $0) / Double(input.headDim).squareRoot() }
                    let top = l.max()!
                    let e = l.map { exp($0 - top) }
                    let z = e.reduce(0, +)
                    for j in 0..<s { row[blockOf(j, g, b)] += e[j] / z / Double(m[a].count) }
                }
                return row
            }
        }
    }

    @Test("oracle: each row keeps the key blocks of most true mass over real tokens; recall never below the methods' at equal counts")
    func oracle() throws {
        let n = 27, c = try MethodContext(input: Self.input, blocks: Self.blocks)
        let mass = Self.naiveMass(Self.input, Self.grid, Self.block, n: n)
        let engine = try #require(try c.trueMass())
        for h in 0..<2 { for a in 0..<n { for b in 0..<n {
            #expect(abs(engine.mass[(h * n + a) * n + b] - mass[h][a][b]) < 1e-5)
        } } }
        let got = try #require(try OracleMethod(keep: 0.2).kept(c))
        let k = Int((0.2 * Double(n)).rounded(.up))
        for h in 0..<2 {
            for a in 0..<n {
                let row = mass[h][a]
                let best = row.sorted(by: >).prefix(k).reduce(0, +)
                let have = Self.rowSet(got, h, a, n)
                #expect(have.count == k)
                #expect(abs(have.reduce(0.0) { $0 + row[$1] } - best) < 1e-6, "head \(h) row \(a)")
            }
        }
        for method in [VSAMethod(keep: 0.2) as any SparseMethod, XAttentionMethod(threshold: 0.8, stride: 8), SVGMethod(width: 1)] {
            let kept = try #require(try method.kept(c))
            let oracle = OracleMethod.kept(matching: kept, mass: engine)
            for h in 0..<2 { for a in 0..<n {
                let row = mass[h][a]
                let mine = Self.rowSet(kept, h, a, n).reduce(0.0) { $0 + row[$1] }
                #expect(Self.rowSet(oracle, h, a, n).reduce(0.0) { $0 + row[$1] } >= mine - 1e-6, "\(method) head \(h) row \(a)")
            } }
        }
    }

    /// XAttention on partial blocks as `XAttentionMethod.blockScores` documents it, token
    /// by token: groups of `s` real tokens inside each block (the last shorter), the
    /// antidiagonal mean of `min(ri, rj)` pairs, `+ log(rj / s)`, rows weighted `ri / s`.
    static func naiveXAttention(_ input: QKInput, _ g: TokenGrid, _ b: BlockShape, n: Int, threshold: Double, stride s: Int) -> [UInt8] {
        let m = members(g, b, n: n)
        var groups: [(tokens: [Int], block: Int)] = []
        for blk in 0..<n { for start in stride(from: 0, to: m[blk].count, by: s) {
            groups.append((Array(m[blk][start..<min(start + s, m[blk].count)]), blk))
        } }
        var out = [UInt8](repeating: 0, count: input.heads * n * n)
        for h in 0..<input.heads {
            var imp = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for gi in groups {
                let logits = groups.map { gj -> Double in
                    let pairs = min(gi.tokens.count, gj.tokens.count)
                    let sum = (0..<pairs).reduce(0.0) { $0 + dot(input, h, gi.tokens[gi.tokens.count - 1 - $1], gj.tokens[$1]) }
                    return sum / (Double(input.headDim).squareRoot() * Double(pairs)) + log(Double(gj.tokens.count) / Double(s))
                }
                let top = logits.max()!
                let e = logits.map { exp($0 - top) }
                let z = e.reduce(0, +)
                for (j, gj) in groups.enumerated() { imp[gi.block][gj.block] += Double(gi.tokens.count) / Double(s) * e[j] / z }
            }
            for a in 0..<n {
                let row = imp[a], total = row.reduce(0, +)
                var before = 0.0
                for blk in row.indices.sorted(by: { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }) {
                    if before >= threshold * total { break }
                    out[(h * n + a) * n + blk] = 1
                    before += row[blk]
                }
                out[(h * n + a) * n] = 1
            }
        }
        return out
    }

    @Test("xattention on partial blocks equals its token-level reference (groups within blocks, short groups at the edges)",
          arguments: [(0.8, 8), (0.9, 16), (0.95, 4)])
    func xattention(threshold: Double, stride: Int) throws {
        let got = try #require(try XAttentionMethod(threshold: threshold, stride: stride).kept(try MethodContext(input: Self.input, blocks: Self.blocks)))
        #expect(got == Self.naiveXAttention(Self.input, Self.grid, Self.block, n: 27, threshold: threshold, stride: stride))
    }

    @Test("the static methods on partial blocks: STA from block coordinates, radial's token mask shrunk over real tokens; the same for any Q/K",
          arguments: [(TokenGrid(t: 3, h: 17, w: 23), BlockShape(bt: 1, bh: 8, bw: 8), 1.0),
                      (TokenGrid(t: 21, h: 10, w: 12), BlockShape(bt: 2, bh: 4, bw: 4), 0.5),
                      (TokenGrid(t: 19, h: 6, w: 7), BlockShape(bt: 1, bh: 4, bw: 4), 2.0)])
    func staticMethods(grid: TokenGrid, block: BlockShape, decay: Double) throws {
        let blocks = try BlockGrid(grid: grid, block: block, edge: .pad)
        #expect(!blocks.isUniform)
        let n = blocks.count, m = Self.members(grid, block, n: n)
        // Radial, token level (radial_attn/attn_mask.py, hunyuan), then the strict shrink per frame pair.
        let tpf = grid.h * grid.w
        func bitLength(_ x: Int) -> Int { x == 0 ? 0 : Int(log2(Double(x))) + 1 }
        let p = Double(1 << bitLength(tpf)), bTokens = Double(block.bh * block.bw)
        func tokenKept(_ fi: Int, _ ri: Int, _ fj: Int, _ rj: Int) -> Bool {
            if fj == 0 { return true }
            let dist = abs(fi - fj), decayLength = p / Double(1 << bitLength(dist))
            var split = true
            if decayLength < bTokens { split = dist % Int(bTokens / decayLength) == 0 }
            let window = dist <= 1 ? Double(tpf) : max(decayLength * decay, bTokens)
            return split && Double(abs(ri - rj)) <= window
        }
        var radial = [UInt8](repeating: 0, count: n * n)
        for a in 0..<n { for b in 0..<n {
            let framesA = Set(m[a].map { $0 / tpf }), framesB = Set(m[b].map { $0 / tpf })
            var keep = false
            for fi in framesA { for fj in framesB {
                let qs = m[a].filter { $0 / tpf == fi }.map { $0 % tpf }, ks = m[b].filter { $0 / tpf == fj }.map { $0 % tpf }
                var nonzero = 0, dense = 0
                for rk in ks {
                    let count = qs.filter { tokenKept(fi, $0, fj, rk) }.count
                    if count > 0 { nonzero += 1 }
                    if Double(count) / Double(qs.count) > 1.0 / 3 { dense += 1 }
                }
                if Double(dense) / (Double(nonzero) + 1e-9) > 0.6 { keep = true }
            } }
            radial[a * n + b] = keep ? 1 : 0
        } }
        let inputs = [randomInput(grid: grid, heads: 2, headDim: 8, seed: 1), randomInput(grid: grid, heads: 2, headDim: 8, seed: 2, sharpness: 0.5)]
        for input in inputs {
            let c = try MethodContext(input: input, blocks: blocks)
            #expect(try RadialMethod(decayFactor: decay).kept(c) == radial + radial)
            // STA 3x3x1: block coordinates within the half-widths 1, 1, 0.
            var sta = [UInt8](repeating: 0, count: n * n)
            for a in 0..<n { for b in 0..<n {
                let x = blocks.coordinates(of: a), y = blocks.coordinates(of: b)
                if abs(x.t - y.t) <= 1 && abs(x.i - y.i) <= 1 && x.j == y.j { sta[a * n + b] = 1 }
            } }
            #expect(try STAMethod(STAWindow(wt: 3, wh: 3, ww: 1)).kept(c) == sta + sta)
        }
    }

    @Test("svg on partial blocks: each head the band with the lower sampled error, computed on real tokens here")
    func svg() throws {
        let input = Self.input, s = Self.grid.tokens, n = 27, d = 8
        var v = [Float](repeating: 0, count: 2 * s * d)
        var rng = SeededRandom(seed: 7)
        for i in v.indices { v[i] = rng.normal() }
        let withV = QKInput(name: "v", q: input.q, k: input.k, v: HeadTokens(v, heads: 2, tokens: s, headDim: d), grid: Self.grid, order: .raster)
        let m = Self.members(Self.grid, Self.block, n: n)
        let order = m.flatMap { $0 }  // block-order position -> raster token
        let width = 0.5
        let spatial = SVGMethod.pattern(Self.blocks, width: width, temporal: false)
        let temporal = SVGMethod.pattern(Self.blocks, width: width, temporal: true)
        #expect(spatial != temporal)
        var chose = Set<Bool>()
        for data in [input, withV] {
            let got = try #require(try SVGMethod(width: width, samples: 16).kept(try MethodContext(input: data, blocks: Self.blocks)))
            for h in 0..<2 {
                var err = [0.0, 0.0]
                for pos in SVGMethod.sampledRows(tokens: s, samples: 16, head: h) {
                    let i = order[pos], a = Self.blockOf(i, Self.grid, Self.block)
                    let w = (0..<s).map { exp(Self.dot(data, h, i, $0) / Double(d).squareRoot()) }
                    func out(_ mask: [UInt8]?) -> (Double, [Double]) {
                        let keys = (0..<s).filter { mask == nil || mask![a * n + Self.blockOf($0, Self.grid, Self.block)] != 0 }
                        let z = keys.reduce(0) { $0 + w[$1] }
                        return (z, (0..<d).map { c in keys.reduce(0.0) { $0 + w[$1] * Double(data.v?.row(h, $1)[c] ?? 0) } / z })
                    }
                    let dense = out(nil)
                    for (k, mask) in [spatial, temporal].enumerated() {
                        let o = out(mask)
                        err[k] += data.v == nil ? 1 - o.0 / dense.0 : zip(o.1, dense.1).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                    }
                }
                chose.insert(err[1] < err[0])
                #expect(Array(got[(h * n * n)..<((h + 1) * n * n)]) == (err[1] < err[0] ? temporal : spatial), "head \(h), V \(data.v != nil)")
            }
        }
    }

    @Test("the sweep runs every method on partial blocks; densities count real token pairs")
    func sweep() throws {
        let c = try MethodContext(input: Self.input, blocks: Self.blocks)
        let sweep = try MethodSweep(context: c, methods: SparseMethods.all)
        #expect(sweep.curves.count == SparseMethods.all.count)
        let m = Self.members(Self.grid, Self.block, n: 27), s = Double(Self.grid.tokens)
        for curve in sweep.curves {
            let row = curve.rows[curve.rows.count / 2]
            let kept = try #require(try row.spec.method().kept(c))
            for h in 0..<2 {
                var pairs = 0.0
                for a in 0..<27 { for b in 0..<27 where kept[(h * 27 + a) * 27 + b] != 0 { pairs += Double(m[a].count * m[b].count) } }
                #expect(abs(row.density[h] - pairs / (s * s)) < 1e-12, "\(row.setting)")
                #expect(row.recall[h] > 0 && row.recall[h] <= 1 + 1e-9)
            }
        }
    }
}
