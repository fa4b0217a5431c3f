import Foundation

/// What the engine does with a token grid that `block` does not divide in every axis
/// (issue 18). A grid the block divides is the same under both.
public enum EdgeMode: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Partial edge blocks: the block grid is the ceiling of `grid / block` per axis and an
    /// edge block holds only its real tokens (VSA's `variable_block_sizes`,
    /// hao-ai-lab/FastVideo `csrc/attn/video_sparse_attn`); every token is kept.
    case pad
    /// The token grid floored to whole blocks per axis (what Wan2.1-NABLA does to the
    /// latent height and width when a sparse mode is on); the tokens past it are dropped.
    case crop

    public var description: String { rawValue }
}

/// The grid of blocks over a token grid: `tb x hb x wb` blocks of `bt x bh x bw` tokens,
/// the one partition of the tokens into blocks every stage uses (pooling, map, cut, STA,
/// statistics, BlockMask rows, attention).
///
/// When `block` divides `grid`, `tb = T/bt` and so on and every block holds `B` tokens.
/// Otherwise `edge` decides: `.pad` takes the ceiling per axis and the last block of an
/// axis holds the `T - (tb-1)*bt` (etc.) real tokens left; `.crop` takes the floor and
/// covers only `kept`, the grid floored to whole blocks (the other tokens are in no block).
///
/// Blocks are numbered in raster order over the block grid: `n = (tb * hb + ib) * wb + jb`.
/// *Block order* of tokens lists all (real) tokens of block 0, then block 1, ...; inside a
/// block, tokens are in raster order over its own extent `(ct, ch, cw)` (the reference's
/// "fractal flattening" for 1x8x8 when the block divides the grid).
public struct BlockGrid: Hashable, Sendable, CustomStringConvertible {
    /// The input's token grid.
    public let grid: TokenGrid
    public let block: BlockShape
    /// `.pad` whenever the block divides the grid (the mode then changes nothing).
    public let edge: EdgeMode
    /// The tokens in blocks: `grid`, or under `.crop` the grid floored to whole blocks.
    public let kept: TokenGrid
    public let tb: Int
    public let hb: Int
    public let wb: Int

    /// - Throws: `NablaError.badGrid` when `edge` is `.crop` and the block is larger than
    ///   the grid in an axis (nothing would be left), naming both shapes.
    public init(grid: TokenGrid, block: BlockShape, edge: EdgeMode = .pad) throws {
        self.grid = grid
        self.block = block
        if block.divides(grid) || edge == .pad {
            self.edge = .pad
            kept = grid
            tb = (grid.t + block.bt - 1) / block.bt
            hb = (grid.h + block.bh - 1) / block.bh
            wb = (grid.w + block.bw - 1) / block.bw
        } else {
            guard grid.t >= block.bt, grid.h >= block.bh, grid.w >= block.bw else {
                throw NablaError(.badGrid, "--edge crop: block \(block) is larger than grid \(grid) in an axis, so no whole block is left; use --edge pad or a smaller block")
            }
            self.edge = .crop
            tb = grid.t / block.bt
            hb = grid.h / block.bh
            wb = grid.w / block.bw
            kept = TokenGrid(t: tb * block.bt, h: hb * block.bh, w: wb * block.bw)
        }
    }

    /// `N = tb * hb * wb`, the side of the block map.
    public var count: Int { tb * hb * wb }
    /// Blocks per frame slab, `hb * wb`.
    public var blocksPerSlab: Int { hb * wb }
    /// Whether every block holds `B` tokens (true under `.crop` and for a dividing grid).
    public var isUniform: Bool { block.divides(kept) }
    /// Tokens in blocks, `S` or the cropped count.
    public var keptTokens: Int { kept.tokens }
    /// Tokens `crop` dropped (0 under `.pad`).
    public var droppedTokens: Int { grid.tokens - kept.tokens }

    public var description: String { "\(tb)x\(hb)x\(wb)" }

    /// Real tokens of the blocks at index `i` of an axis of `n` blocks of size `b` over `size` tokens.
    @inlinable static func along(_ i: Int, size: Int, b: Int) -> Int { Swift.min(b, size - i * b) }

    /// The block coordinates `(t, i, j)` of block `n`.
    @inlinable public func coordinates(of n: Int) -> (t: Int, i: Int, j: Int) {
        let j = n % wb
        let i = (n / wb) % hb
        return (n / (wb * hb), i, j)
    }

    /// The real extent `(ct, ch, cw)` of block `n` (`block` itself for an inner block).
    @inlinable public func extent(of n: Int) -> (ct: Int, ch: Int, cw: Int) {
        let (t, i, j) = coordinates(of: n)
        return (Self.along(t, size: kept.t, b: block.bt), Self.along(i, size: kept.h, b: block.bh),
                Self.along(j, size: kept.w, b: block.bw))
    }

    /// Real tokens of block `n`, `ct * ch * cw`.
    @inlinable public func tokens(inBlock n: Int) -> Int {
        let e = extent(of: n)
        return e.ct * e.ch * e.cw
    }

    /// Real tokens of every block, `[N]`.
    /// - Complexity: O(N).
    public func blockTokenCounts() -> [Int32] {
        (0..<count).map { Int32(truncatingIfNeeded: tokens(inBlock: $0)) }
    }

    /// Real tokens of frame slab `t` (`ct` frames of the kept grid).
    public func tokens(inSlab t: Int) -> Int { Self.along(t, size: kept.t, b: block.bt) * kept.h * kept.w }

    /// The block-order position of the first token of block `n` (`n * B` when uniform).
    @inlinable public func offset(ofBlock n: Int) -> Int {
        let (t, i, j) = coordinates(of: n)
        let ct = Self.along(t, size: kept.t, b: block.bt), ch = Self.along(i, size: kept.h, b: block.bh)
        return t * block.bt * kept.h * kept.w + ct * (i * block.bh * kept.w + ch * j * block.bw)
    }

    /// The raster index in `grid` of the token at position `inner` (raster over the
    /// block's extent `ct x ch x cw`) of block `n`.
    @inlinable public func rasterToken(block n: Int, inner: Int) -> Int {
        let (t, i, j) = coordinates(of: n)
        let (_, ch, cw) = extent(of: n)
        let x = inner % cw
        let y = (inner / cw) % ch
        let f = inner / (cw * ch)
        return ((t * block.bt + f) * grid.h + (i * block.bh + y)) * grid.w + (j * block.bw + x)
    }

    /// `perm` with `x_block[p] = x_raster[perm[p]]`: the raster index (in `grid`) of the
    /// token at each block-order position, `[keptTokens]` (the reference's `block_order`).
    /// - Complexity: O(S).
    public func blockOrderPermutation() -> [Int32] {
        var perm = [Int32](repeating: 0, count: kept.tokens)
        perm.withUnsafeMutableBufferPointer { p in
            var pos = 0
            for n in 0..<count {
                for inner in 0..<tokens(inBlock: n) {
                    p[pos] = Int32(truncatingIfNeeded: rasterToken(block: n, inner: inner))
                    pos += 1
                }
            }
        }
        return perm
    }

    /// The inverse of `blockOrderPermutation()`: the block-order position of each raster
    /// token of `grid` (-1 for a token `crop` dropped).
    /// - Complexity: O(S).
    public func rasterPositions() -> [Int32] {
        let perm = blockOrderPermutation()
        var inv = [Int32](repeating: -1, count: grid.tokens)
        for (p, r) in perm.enumerated() { inv[Int(r)] = Int32(truncatingIfNeeded: p) }
        return inv
    }

    /// `log(count / B)` of every block, `[N]`: the term a partial key block's pooled logit
    /// gets so that its estimated mass scales with its token count as its true mass does
    /// (the mean-pooled key stands for `count` keys, not `B`); `nil` when uniform.
    public func keyLogitOffsets() -> [Double]? {
        guard !isUniform else { return nil }
        let full = Double(block.tokens)
        return (0..<count).map { Foundation.log(Double(tokens(inBlock: $0)) / full) }
    }

    /// What the edge mode did, in one line, or `nil` when the block divides the grid:
    /// `edge pad: 21x4x7 blocks, 175 partial edge blocks (...)` or `edge crop: dropped ...`.
    public var edgeText: String? {
        if block.divides(grid) { return nil }
        switch edge {
        case .pad:
            let partial = (0..<count).filter { tokens(inBlock: $0) < block.tokens }.count
            var axes: [String] = []
            if grid.t % block.bt != 0 { axes.append("last frame slab \(grid.t % block.bt) of \(block.bt) frames") }
            if grid.h % block.bh != 0 { axes.append("last block row \(grid.h % block.bh) of \(block.bh) rows") }
            if grid.w % block.bw != 0 { axes.append("last block column \(grid.w % block.bw) of \(block.bw) columns") }
            return "edge pad: block \(block) does not divide grid \(grid); block grid \(self) (ceiling), \(partial) partial edge blocks (\(axes.joined(separator: ", "))), every token kept"
        case .crop:
            var parts: [String] = []
            if kept.t < grid.t { parts.append("frames \(kept.t)..<\(grid.t)") }
            if kept.h < grid.h { parts.append("rows \(kept.h)..<\(grid.h) of every frame") }
            if kept.w < grid.w { parts.append("columns \(kept.w)..<\(grid.w) of every frame") }
            return "edge crop: block \(block) does not divide grid \(grid); kept \(kept) (\(kept.tokens) tokens), dropped \(droppedTokens) tokens: \(parts.joined(separator: ", "))"
        }
    }
}

/// How the tokens of a stored `[heads, S, D]` tensor are ordered.
public enum TokenOrder: Hashable, Sendable, CustomStringConvertible {
    /// Plain `(t, h, w)` raster order.
    case raster
    /// Block order for the given block shape (the layout NABLA's kernels use); for a grid
    /// the block does not divide, block order over partial edge blocks (`EdgeMode.pad`).
    case block(BlockShape)

    public var description: String {
        switch self {
        case .raster: "raster"
        case .block(let b): "block(\(b))"
        }
    }

    /// For each raster token, the row where it is stored.
    public func storedRows(for grid: TokenGrid) throws -> [Int32] {
        switch self {
        case .raster:
            return (0..<grid.tokens).map { Int32(truncatingIfNeeded: $0) }
        case .block(let b):
            return try BlockGrid(grid: grid, block: b).rasterPositions()
        }
    }
}
