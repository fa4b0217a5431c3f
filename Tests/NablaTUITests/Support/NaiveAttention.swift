import Foundation
import NablaCore

/// Token-level attention of one head written plainly for the tests (the whole softmax
/// matrix in Double, no tiling, no online softmax): the independent expectation for the
/// teaching views' recall and error. Inputs in raster token order.
struct NaiveAttention {
    let input: QKInput
    let head: Int
    let blocks: BlockGrid
    /// `[S, S]`: softmax over all keys of `q.k / sqrt(D)` per query token.
    let p: [Double]
    /// The block of each raster token.
    let blockOf: [Int]

    init(_ input: QKInput, head h: Int, blocks: BlockGrid) {
        self.input = input
        head = h
        self.blocks = blocks
        let s = input.grid.tokens, d = input.headDim
        var p = [Double](repeating: 0, count: s * s)
        for i in 0..<s {
            let q = input.q.row(h, i)
            var top = -Double.infinity
            for k in 0..<s {
                let kr = input.k.row(h, k)
                var dot = 0.0
                for j in 0..<d { dot += Double(q[j]) * Double(kr[j]) }
                p[i * s + k] = dot / Double(d).squareRoot()
                top = max(top, p[i * s + k])
            }
            var z = 0.0
            for k in 0..<s {
                p[i * s + k] = exp(p[i * s + k] - top)
                z += p[i * s + k]
            }
            for k in 0..<s { p[i * s + k] /= z }
        }
        self.p = p
        var blockOf = [Int](repeating: 0, count: s)
        for b in 0..<blocks.count { for t in NaiveAttention.tokens(of: b, blocks) { blockOf[t] = b } }
        self.blockOf = blockOf
    }

    /// The raster tokens of block `b` of `blocks`.
    static func tokens(of b: Int, _ blocks: BlockGrid) -> [Int] {
        let (t, i, j) = blocks.coordinates(of: b)
        let s = blocks.block, g = blocks.grid
        var out: [Int] = []
        for dt in 0..<s.bt { for y in 0..<s.bh { for x in 0..<s.bw {
            out.append(((t * s.bt + dt) * g.h + i * s.bh + y) * g.w + j * s.bw + x)
        } } }
        return out
    }

    /// The true softmax mass of query block `a` on the key blocks `kept(b)`, averaged over
    /// the block's query tokens.
    func rowMass(query a: Int, kept: (Int) -> Bool) -> Double {
        let s = input.grid.tokens, keys = (0..<s).filter { kept(blockOf[$0]) }
        let qs = NaiveAttention.tokens(of: a, blocks)
        return qs.reduce(0.0) { sum, i in keys.reduce(sum) { $0 + p[i * s + $1] } } / Double(qs.count)
    }

    /// Mean over query blocks of the true softmax mass on each row's kept key blocks
    /// (`kept(a, b)`): the recall.
    func recall(kept: (Int, Int) -> Bool) -> Double {
        (0..<blocks.count).reduce(0.0) { sum, a in sum + rowMass(query: a) { kept(a, $0) } } / Double(blocks.count)
    }

    /// `[S, D]` output of each query attending to the tokens of its block's kept key blocks
    /// `kept(a, b)` (every block when `nil`: dense): the softmax renormalised over them.
    func output(kept: ((Int, Int) -> Bool)?) -> [Double] {
        let s = input.grid.tokens, d = input.headDim, v = input.v!
        var out = [Double](repeating: 0, count: s * d)
        for i in 0..<s {
            let a = blockOf[i]
            let keys = (0..<s).filter { kept?(a, blockOf[$0]) ?? true }
            let z = keys.reduce(0.0) { $0 + p[i * s + $1] }
            for k in keys {
                let w = p[i * s + k] / z, vr = v.row(head, k)
                for j in 0..<d { out[i * d + j] += w * Double(vr[j]) }
            }
        }
        return out
    }

    /// `||x - ref|| / ||ref||`.
    static func relativeError(_ x: [Double], _ ref: [Double]) -> Double {
        let num = zip(x, ref).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (num / ref.reduce(0.0) { $0 + $1 * $1 }).squareRoot()
    }
}
