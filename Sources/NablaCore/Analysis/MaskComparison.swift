/// How two block masks of the same input agree, measured on the common token grid: two
/// masks with different block shapes are compared pair of tokens by pair of tokens (a
/// block pair stands for all its token pairs).
///
/// Counts are token pairs `(query token, key token)` per head: kept by A only, by B only,
/// by both. `jaccard = both / (onlyA + onlyB + both)`, 1 when neither keeps anything.
/// With equal block shapes every block pair weighs the same, so the Jaccard is the block
/// masks' own.
public struct MaskComparison: Sendable {
    public let a: SpecifiedMask
    public let b: SpecifiedMask
    public let heads: Int
    public let onlyA: [Int]
    public let onlyB: [Int]
    public let both: [Int]

    /// - Complexity: O(heads * C^2) for `C` cells of the coarsest partition of the grid
    ///   that both block grids refine (on each axis, the union of both sets of block
    ///   borders): `C = N` for equal shapes, at most `(tA + tB) (hA + hB) (wA + wB)`.
    public init(_ a: SpecifiedMask, _ b: SpecifiedMask) {
        precondition(a.blocks.grid == b.blocks.grid && a.heads == b.heads, "masks of the same input")
        self.a = a
        self.b = b
        heads = a.heads
        let cells = CommonCells(a.blocks, b.blocks)
        let c = cells.count
        var onlyA = [Int](repeating: 0, count: heads), onlyB = onlyA, both = onlyA
        let na = a.n, nb = b.n
        for h in 0..<heads {
            var oa = 0, ob = 0, bo = 0
            let ka = h * na * na, kb = h * nb * nb
            for q in 0..<c {
                let rowA = ka + cells.blockA[q] * na, rowB = kb + cells.blockB[q] * nb
                let wq = cells.tokens[q]
                var sa = 0, sb = 0, sboth = 0
                for k in 0..<c {
                    let inA = a.kept[rowA + cells.blockA[k]] != 0
                    let inB = b.kept[rowB + cells.blockB[k]] != 0
                    let w = cells.tokens[k]
                    if inA && inB { sboth += w } else if inA { sa += w } else if inB { sb += w }
                }
                oa += wq * sa
                ob += wq * sb
                bo += wq * sboth
            }
            onlyA[h] = oa
            onlyB[h] = ob
            both[h] = bo
        }
        self.onlyA = onlyA
        self.onlyB = onlyB
        self.both = both
    }

    /// `both / (onlyA + onlyB + both)` of head `h`.
    public func jaccard(head h: Int) -> Double {
        MaskComparison.jaccard(onlyA[h], onlyB[h], both[h])
    }

    /// The Jaccard over every head's token pairs together.
    public var jaccard: Double {
        MaskComparison.jaccard(onlyA.reduce(0, +), onlyB.reduce(0, +), both.reduce(0, +))
    }

    static func jaccard(_ a: Int, _ b: Int, _ both: Int) -> Double {
        let union = a + b + both
        return union == 0 ? 1 : Double(both) / Double(union)
    }

    /// Which of A and B keep the block pair `(query, key)` of head `h`, when both masks
    /// share a block grid (the app's overlay).
    public func cell(head h: Int, query q: Int, key k: Int) -> (a: Bool, b: Bool) {
        precondition(a.blocks == b.blocks, "cells are defined for masks on one block grid")
        let n = a.n, i = (h * n + q) * n + k
        return (a.kept[i] != 0, b.kept[i] != 0)
    }
}

/// The cells of the coarsest partition of a token grid refined by two block grids: on each
/// axis, the segments between consecutive borders of either grid's blocks. Each cell lies
/// in exactly one block of each grid.
struct CommonCells {
    /// Per cell, raster over the cells: its block in grid A, in grid B, and its tokens.
    var blockA: [Int] = []
    var blockB: [Int] = []
    var tokens: [Int] = []
    var count: Int { tokens.count }

    init(_ ga: BlockGrid, _ gb: BlockGrid) {
        /// Segments of `0..<length` cut at multiples of `x` and of `y`: (start, length).
        func segments(_ length: Int, _ x: Int, _ y: Int) -> [(start: Int, length: Int)] {
            var borders = Set<Int>()
            for s in stride(from: 0, to: length, by: x) { borders.insert(s) }
            for s in stride(from: 0, to: length, by: y) { borders.insert(s) }
            let sorted = borders.sorted() + [length]
            return (0..<(sorted.count - 1)).map { (sorted[$0], sorted[$0 + 1] - sorted[$0]) }
        }
        // The tokens both block grids cover (under --edge crop, the smaller kept grid).
        let grid = TokenGrid(t: min(ga.kept.t, gb.kept.t), h: min(ga.kept.h, gb.kept.h), w: min(ga.kept.w, gb.kept.w))
        let ts = segments(grid.t, ga.block.bt, gb.block.bt)
        let ys = segments(grid.h, ga.block.bh, gb.block.bh)
        let xs = segments(grid.w, ga.block.bw, gb.block.bw)
        for t in ts { for y in ys { for x in xs {
            blockA.append(((t.start / ga.block.bt) * ga.hb + y.start / ga.block.bh) * ga.wb + x.start / ga.block.bw)
            blockB.append(((t.start / gb.block.bt) * gb.hb + y.start / gb.block.bh) * gb.wb + x.start / gb.block.bw)
            tokens.append(t.length * y.length * x.length)
        } } }
    }
}

/// What one pixel (or figure cell) of a compare overlay stands for when it covers several
/// block pairs: the kind holding more than half of its kept blocks, else `mixed`. Blocks
/// kept by neither mask are background and do not vote. The terminal's compare view and
/// `nabla plot --view compare` both draw by this rule, so agreement is visible at every
/// zoom (issue 20, item 1: "both" showed only where every block agreed).
public enum OverlayKind: Hashable, Sendable {
    case neither, onlyA, onlyB, both, mixed

    /// The kind of a pixel holding `onlyA`, `onlyB` and `both` block pairs.
    /// - Complexity: O(1).
    public init(onlyA a: Int, onlyB b: Int, both: Int) {
        let kept = a + b + both
        if kept == 0 {
            self = .neither
        } else if 2 * both > kept {
            self = .both
        } else if 2 * a > kept {
            self = .onlyA
        } else if 2 * b > kept {
            self = .onlyB
        } else {
            self = .mixed
        }
    }

    /// Counts the kinds of the block pairs `queries x keys` of head `h` of `c`.
    /// - Complexity: O(|queries| |keys|).
    public init(_ c: MaskComparison, head h: Int, queries: Range<Int>, keys: Range<Int>) {
        var a = 0, b = 0, both = 0
        for q in queries { for k in keys {
            let cell = c.cell(head: h, query: q, key: k)
            if cell.a && cell.b { both += 1 } else if cell.a { a += 1 } else if cell.b { b += 1 }
        } }
        self.init(onlyA: a, onlyB: b, both: both)
    }
}
