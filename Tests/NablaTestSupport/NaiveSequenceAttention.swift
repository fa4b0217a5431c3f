import Foundation

/// Token-level attention of one head over a whole sequence written plainly, for joint
/// text-video sequences (issue 18, item 2): every position has a block label (or none, for
/// a token outside every block, which is neither query nor key); the softmax of each real
/// query is over every real key, in Double, no tiling, no online softmax.
public struct NaiveSequenceAttention: Sendable {
    /// The positions of the real tokens, ascending: rows and columns of `p`.
    public let real: [Int]
    /// The block of each real token (`real`'s order).
    public let blockOf: [Int]
    /// `[R, R]`: softmax over all real keys of `q.k / sqrt(D)` per real query.
    public let p: [Double]
    private let v: [Double]?
    private let dv: Int

    /// `q`, `k`: `[S, D]` of one head in sequence order; `v`: `[S, Dv]` or `nil`;
    /// `block(pos)`: the block of position `pos`, `nil` for a token in no block.
    /// - Complexity: O(R^2 D).
    public init(q: [Float], k: [Float], v: [Float]?, tokens s: Int, headDim d: Int, valueDim: Int? = nil,
                block: (Int) -> Int?) {
        var real: [Int] = [], blockOf: [Int] = []
        for pos in 0..<s {
            if let b = block(pos) {
                real.append(pos)
                blockOf.append(b)
            }
        }
        self.real = real
        self.blockOf = blockOf
        let r = real.count
        p = NaiveAttention.softmax(rows: r, headDim: d) { row, col in
            let i = real[row], j = real[col]
            var dot = 0.0
            for x in 0..<d { dot += Double(q[i * d + x]) * Double(k[j * d + x]) }
            return dot
        }
        let dv = valueDim ?? d
        self.dv = dv
        self.v = v.map { v in real.flatMap { t in (0..<dv).map { Double(v[t * dv + $0]) } } }
    }

    /// Recall: the mean over real query tokens of the softmax mass on the keys of the
    /// blocks `kept(a, b)` keeps for the query's block `a`.
    public func recall(kept: (Int, Int) -> Bool) -> Double {
        let r = real.count
        var sum = 0.0
        for i in 0..<r {
            for j in 0..<r where kept(blockOf[i], blockOf[j]) { sum += p[i * r + j] }
        }
        return sum / Double(r)
    }

    /// `[R, Dv]`: each real query attending to the keys of its block's kept blocks
    /// (`kept(a, b)`; every key when `nil`: dense), the softmax renormalised over them, rows
    /// in `real`'s order. Needs V.
    public func output(kept: ((Int, Int) -> Bool)?) -> [Double] {
        let r = real.count, v = v!
        var out = [Double](repeating: 0, count: r * dv)
        for i in 0..<r {
            let keys = (0..<r).filter { kept?(blockOf[i], blockOf[$0]) ?? true }
            let z = keys.reduce(0.0) { $0 + p[i * r + $1] }
            for j in keys {
                let w = p[i * r + j] / z
                for x in 0..<dv { out[i * dv + x] += w * v[j * dv + x] }
            }
        }
        return out
    }
}
