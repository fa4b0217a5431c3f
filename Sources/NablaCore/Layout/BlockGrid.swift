/// The grid of blocks, `tb x hb x wb = T/bt x H/bh x W/bw`, for a token grid and a
/// block shape that divides it.
///
/// Blocks are numbered in raster order over the block grid: `n = (tb * hb + ib) * wb + jb`.
/// *Block order* of tokens lists all tokens of block 0, then block 1, ...; inside a
/// block, tokens are in raster order over `(bt, bh, bw)` (the reference's "fractal
/// flattening" for 1x8x8).
public struct BlockGrid: Hashable, Sendable, CustomStringConvertible {
    public let grid: TokenGrid
    public let block: BlockShape
    public let tb: Int
    public let hb: Int
    public let wb: Int

    /// - Throws: `NablaError.badGrid` naming both shapes and the block shapes that do
    ///   divide `grid` when `block` does not.
    public init(grid: TokenGrid, block: BlockShape) throws {
        guard block.divides(grid) else {
            let shapes = BlockShape.dividing(grid).map(\.description).joined(separator: ", ")
            throw NablaError(.badGrid, "grid \(grid) is not divisible by block \(block); blocks that divide it: \(shapes)")
        }
        self.grid = grid
        self.block = block
        tb = grid.t / block.bt
        hb = grid.h / block.bh
        wb = grid.w / block.bw
    }

    /// `N = tb * hb * wb`, the side of the block map.
    public var count: Int { tb * hb * wb }
    /// Blocks per frame slab, `hb * wb`.
    public var blocksPerSlab: Int { hb * wb }

    public var description: String { "\(tb)x\(hb)x\(wb)" }

    /// The block coordinates `(t, i, j)` of block `n`.
    @inlinable public func coordinates(of n: Int) -> (t: Int, i: Int, j: Int) {
        let j = n % wb
        let i = (n / wb) % hb
        return (n / (wb * hb), i, j)
    }

    /// The raster index of the token at position `inner` (raster over `bt x bh x bw`)
    /// of block `n`.
    @inlinable public func rasterToken(block n: Int, inner: Int) -> Int {
        let (t, i, j) = coordinates(of: n)
        let x = inner % block.bw
        let y = (inner / block.bw) % block.bh
        let f = inner / (block.bw * block.bh)
        return ((t * block.bt + f) * grid.h + (i * block.bh + y)) * grid.w + (j * block.bw + x)
    }

    /// `perm` with `x_block[p] = x_raster[perm[p]]`: the raster index of the token at
    /// each block-order position (the reference's `block_order`).
    /// - Complexity: O(S).
    public func blockOrderPermutation() -> [Int32] {
        var perm = [Int32](repeating: 0, count: grid.tokens)
        let bs = block.tokens
        perm.withUnsafeMutableBufferPointer { p in
            var pos = 0
            for n in 0..<count {
                for inner in 0..<bs {
                    p[pos] = Int32(truncatingIfNeeded: rasterToken(block: n, inner: inner))
                    pos += 1
                }
            }
        }
        return perm
    }

    /// The inverse of `blockOrderPermutation()`: the block-order position of each raster token.
    /// - Complexity: O(S).
    public func rasterPositions() -> [Int32] {
        let perm = blockOrderPermutation()
        var inv = [Int32](repeating: 0, count: perm.count)
        for (p, r) in perm.enumerated() { inv[Int(r)] = Int32(truncatingIfNeeded: p) }
        return inv
    }
}

/// How the tokens of a stored `[heads, S, D]` tensor are ordered.
public enum TokenOrder: Hashable, Sendable, CustomStringConvertible {
    /// Plain `(t, h, w)` raster order.
    case raster
    /// Block order for the given block shape (the layout NABLA's kernels use).
    case block(BlockShape)

    public var description: String {
        switch self {
        case .raster: "raster"
        case .block(let b): "block(\(b))"
        }
    }

    /// For each raster token, the row where it is stored.
    /// - Throws: `NablaError.badGrid` when the ordering block does not divide `grid`.
    public func storedRows(for grid: TokenGrid) throws -> [Int32] {
        switch self {
        case .raster:
            return (0..<grid.tokens).map { Int32(truncatingIfNeeded: $0) }
        case .block(let b):
            return try BlockGrid(grid: grid, block: b).rasterPositions()
        }
    }
}
