import Foundation

/// 3-D rotary position embedding (RoPE), as video DiTs apply it to `q` and `k` after
/// their RMSNorm: the head dimension is split into a time, a row and a column section,
/// and each section rotates by the token's frame, row or column on the token grid.
///
/// Layout of the `D` values of one head: `2 * pairsT` values for time, then `2 * pairsY`
/// for rows, then `2 * pairsX` for columns. Each adjacent pair `(v[2j], v[2j+1])` is
/// rotated by the angle `position * theta`, with `theta_i = 10000^(-i / n)` for the
/// `i`-th of the `n` pairs of its section (the `base^(-2i/d)` of 1-D RoPE with `d = 2n`).
///
/// The split generalises Kandinsky 5's 16/24/24 of 64: time takes a quarter of the
/// `D/2` pairs (at least one), rows and columns share the rest, rows taking an odd one.
/// D = 64 gives 16/24/24 values, D = 128 gives 32/48/48, D = 96 gives 24/36/36.
///
/// A rotation keeps norms, and `rotate(q, p) . rotate(k, p')` depends on the positions
/// only through `p - p'`: that is what makes q.k relative in position.
public struct RotaryEmbedding3D: Sendable, Equatable {
    public let headDim: Int
    /// Rotation pairs of the time, row and column sections.
    public let pairsT: Int
    public let pairsY: Int
    public let pairsX: Int
    /// The base of the frequencies, as in RoPE.
    public static let base = 10000.0

    /// - Throws: `NablaError.badArgument` when `headDim` is odd or below 6 (three
    ///   sections of at least one pair).
    public init(headDim: Int) throws {
        guard headDim >= 6, headDim % 2 == 0 else {
            throw NablaError(.badArgument, "\(setting: .headDim, String(headDim)): 3-D RoPE needs an even head dimension of at least 6 (one rotation pair for each of time, rows and columns)")
        }
        let pairs = headDim / 2
        let t = max(1, pairs / 4)
        let rest = pairs - t
        self.headDim = headDim
        pairsT = t
        pairsY = (rest + 1) / 2
        pairsX = rest / 2
    }

    /// The section (0 time, 1 rows, 2 columns) and the angular frequency of rotation
    /// pair `j` (values `2j` and `2j+1`), `0 <= j < D/2`.
    public func frequency(pair j: Int) -> (axis: Int, theta: Double) {
        precondition(j >= 0 && j < headDim / 2, "pair index out of range")
        let (axis, i, n) = j < pairsT ? (0, j, pairsT) : (j < pairsT + pairsY ? (1, j - pairsT, pairsY) : (2, j - pairsT - pairsY, pairsX))
        return (axis, pow(RotaryEmbedding3D.base, -Double(i) / Double(n)))
    }

    /// `cos` and `sin` of every angle a token grid needs. Layout of `cos` and `sin`:
    /// the time section `[T, pairsT]`, then the rows `[H, pairsY]`, then the columns
    /// `[W, pairsX]`.
    public struct Table: Sendable {
        let cos: [Float]
        let sin: [Float]
        /// Where the row and column sections start.
        let rowStart: Int
        let columnStart: Int
    }

    /// The angles of every frame, row and column of `grid`, computed in `Double`.
    /// - Complexity: O((T + H + W) * D).
    public func table(for grid: TokenGrid) -> Table {
        var cosines: [Float] = [], sines: [Float] = []
        var pair = 0
        for (positions, n) in [(grid.t, pairsT), (grid.h, pairsY), (grid.w, pairsX)] {
            for p in 0..<positions {
                for i in 0..<n {
                    let angle = Double(p) * frequency(pair: pair + i).theta
                    cosines.append(Float(Foundation.cos(angle)))
                    sines.append(Float(Foundation.sin(angle)))
                }
            }
            pair += n
        }
        return Table(cos: cosines, sin: sines, rowStart: grid.t * pairsT, columnStart: grid.t * pairsT + grid.h * pairsY)
    }

    /// Rotates the `D` values at `v` in place for the token at frame `t`, row `y`,
    /// column `x`; `cos` and `sin` are the bases of a `Table`'s arrays for a grid
    /// holding that position.
    /// - Complexity: O(D).
    @inline(__always)
    func rotate(_ v: UnsafeMutablePointer<Float>, t: Int, y: Int, x: Int, table: Table,
                cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let ot = t * pairsT, oy = table.rowStart + y * pairsY, ox = table.columnStart + x * pairsX
        RotaryEmbedding3D.rotatePairs(v, count: pairsT, cos: cos + ot, sin: sin + ot)
        RotaryEmbedding3D.rotatePairs(v + 2 * pairsT, count: pairsY, cos: cos + oy, sin: sin + oy)
        RotaryEmbedding3D.rotatePairs(v + 2 * (pairsT + pairsY), count: pairsX, cos: cos + ox, sin: sin + ox)
    }

    @inline(__always)
    static func rotatePairs(_ u: UnsafeMutablePointer<Float>, count n: Int,
                            cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>) {
        var i = 0
        while i < n {
            let e = u[2 * i], o = u[2 * i + 1]
            u[2 * i] = e * c[i] - o * s[i]
            u[2 * i + 1] = e * s[i] + o * c[i]
            i += 1
        }
    }

    /// `v` (D values) rotated for the token at frame `t`, row `y`, column `x`; the same
    /// arithmetic the stand-in layer applies.
    public func rotated(_ v: [Float], t: Int, y: Int, x: Int) -> [Float] {
        precondition(v.count == headDim, "a vector of D values is needed")
        let table = table(for: TokenGrid(t: t + 1, h: y + 1, w: x + 1))
        var out = v
        table.cos.withUnsafeBufferPointer { c in
            table.sin.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer {
                    rotate($0.baseAddress!, t: t, y: y, x: x, table: table, cos: c.baseAddress!, sin: s.baseAddress!)
                }
            }
        }
        return out
    }
}
