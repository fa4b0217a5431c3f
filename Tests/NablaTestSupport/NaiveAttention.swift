import Foundation
import NablaCore

/// Which block each raster token of a grid belongs to, worked out from the token's
/// coordinates alone: the tests' independent reference for `BlockGrid` (pad: the ceiling in
/// each axis, edge blocks hold their real tokens; crop: the floor, the rest dropped).
public struct BlockPartition: Sendable {
    /// The block of each raster token, `-1` for a dropped one (crop).
    public let blockOf: [Int]
    /// Number of blocks.
    public let n: Int
    /// Real tokens in each block.
    public let counts: [Int]
    /// Tokens in some block (all of them under pad).
    public let kept: Int

    public init(grid: TokenGrid, block b: BlockShape, edge: EdgeMode) {
        func side(_ size: Int, _ bs: Int) -> Int { edge == .pad ? (size + bs - 1) / bs : size / bs }
        let tb = side(grid.t, b.bt), hb = side(grid.h, b.bh), wb = side(grid.w, b.bw)
        n = tb * hb * wb
        var blockOf = [Int](repeating: -1, count: grid.tokens)
        var counts = [Int](repeating: 0, count: n)
        for t in 0..<grid.t {
            for y in 0..<grid.h {
                for x in 0..<grid.w where t / b.bt < tb && y / b.bh < hb && x / b.bw < wb {
                    let blk = ((t / b.bt) * hb + y / b.bh) * wb + x / b.bw
                    blockOf[(t * grid.h + y) * grid.w + x] = blk
                    counts[blk] += 1
                }
            }
        }
        self.blockOf = blockOf
        self.counts = counts
        kept = counts.reduce(0, +)
    }
}

/// Token-level attention of one head written plainly: the whole softmax matrix in Double over
/// the real (kept) tokens, no tiling, no online softmax. The one attention oracle of the
/// test targets (recall, output error, block-sparse outputs). Inputs in raster token order.
public struct NaiveAttention: Sendable {
    public let head: Int
    public let partition: BlockPartition
    /// The raster indices of the real tokens, ascending: rows and columns of `p`.
    public let real: [Int]
    /// `[R, R]` (R = `real.count`): softmax over all real keys of `q.k / sqrt(D)` per real query.
    public let p: [Double]
    private let v: [Double]?
    private let d: Int

    /// - Complexity: O(R^2 D).
    public init(_ input: QKInput, head h: Int, partition: BlockPartition) {
        head = h
        self.partition = partition
        d = input.headDim
        let real = partition.blockOf.indices.filter { partition.blockOf[$0] >= 0 }
        self.real = real
        let r = real.count, d = input.headDim
        p = NaiveAttention.softmax(rows: r, headDim: d) { row, col in
            let q = input.q.row(h, real[row]), k = input.k.row(h, real[col])
            var dot = 0.0
            for j in 0..<d { dot += Double(q[j]) * Double(k[j]) }
            return dot
        }
        v = input.v.map { v in real.flatMap { t in (0..<d).map { Double(v.row(h, t)[$0]) } } }
    }

    /// `[r, r]`: row `i` the softmax over `j` of `dot(i, j) / sqrt(D)`, in Double with the
    /// row maximum subtracted. Shared by the oracles of this target.
    /// - Complexity: O(r^2) calls of `dot`.
    public static func softmax(rows r: Int, headDim d: Int, dot: (Int, Int) -> Double) -> [Double] {
        var p = [Double](repeating: 0, count: r * r)
        for row in 0..<r {
            var top = -Double.infinity
            for col in 0..<r {
                p[row * r + col] = dot(row, col) / Double(d).squareRoot()
                top = max(top, p[row * r + col])
            }
            var z = 0.0
            for col in 0..<r {
                p[row * r + col] = exp(p[row * r + col] - top)
                z += p[row * r + col]
            }
            for col in 0..<r { p[row * r + col] /= z }
        }
        return p
    }

    /// On whole blocks of `blocks` (its block shape under pad: a grid it divides has no
    /// partial blocks).
    public init(_ input: QKInput, head h: Int, blocks: BlockGrid) {
        self.init(input, head: h, partition: BlockPartition(grid: input.grid, block: blocks.block, edge: .pad))
    }

    /// The true softmax mass of query block `a` on the key blocks `kept(b)`, averaged over
    /// the block's real query tokens.
    public func rowMass(query a: Int, kept: (Int) -> Bool) -> Double {
        let r = real.count, blockOf = partition.blockOf
        let keys = (0..<r).filter { kept(blockOf[real[$0]]) }
        let rows = (0..<r).filter { blockOf[real[$0]] == a }
        return rows.reduce(0.0) { sum, i in keys.reduce(sum) { $0 + p[i * r + $1] } } / Double(rows.count)
    }

    /// Recall: the mean over real query tokens of the true softmax mass on their block's
    /// kept key blocks (`kept(a, b)`). On whole blocks it is also the mean of `rowMass` over
    /// query blocks.
    public func recall(kept: (Int, Int) -> Bool) -> Double {
        let r = real.count, blockOf = partition.blockOf
        var sum = 0.0
        for i in 0..<r {
            let a = blockOf[real[i]]
            for k in 0..<r where kept(a, blockOf[real[k]]) { sum += p[i * r + k] }
        }
        return sum / Double(r)
    }

    /// `[R, D]` output of each real query attending to the tokens of its block's kept key
    /// blocks `kept(a, b)` (every block when `nil`: dense): the softmax renormalised over
    /// them. Needs V.
    public func output(kept: ((Int, Int) -> Bool)?) -> [Double] {
        let r = real.count, blockOf = partition.blockOf, v = v!
        var out = [Double](repeating: 0, count: r * d)
        for i in 0..<r {
            let a = blockOf[real[i]]
            let keys = (0..<r).filter { kept?(a, blockOf[real[$0]]) ?? true }
            let z = keys.reduce(0.0) { $0 + p[i * r + $1] }
            for k in keys {
                let w = p[i * r + k] / z
                for j in 0..<d { out[i * d + j] += w * v[k * d + j] }
            }
        }
        return out
    }

    /// `||x - ref|| / ||ref||`.
    public static func relativeError(_ x: [Double], _ ref: [Double]) -> Double {
        let num = zip(x, ref).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (num / ref.reduce(0.0) { $0 + $1 * $1 }).squareRoot()
    }

    /// Every head of `input`, block-sparse under the `[heads, N, N]` 0/1 mask `kept`:
    /// `[heads, R, D]` outputs (rows of the real tokens in raster order) and each head's recall.
    public static func blockSparse(_ input: QKInput, _ partition: BlockPartition, kept: [UInt8]) -> (out: [Double], recall: [Double]) {
        let n = partition.n
        var out: [Double] = [], recall: [Double] = []
        for h in 0..<input.heads {
            let oracle = NaiveAttention(input, head: h, partition: partition)
            let isKept = { (a: Int, b: Int) in kept[(h * n + a) * n + b] != 0 }
            out += oracle.output(kept: isKept)
            recall.append(oracle.recall(kept: isKept))
        }
        return (out, recall)
    }
}
