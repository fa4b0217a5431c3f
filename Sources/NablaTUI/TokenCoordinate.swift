import NablaCore

/// A token's place in the token grid: frame `t`, row `y`, column `x` (0-based).
struct TokenCoordinate: Equatable, Sendable {
    var t: Int
    var y: Int
    var x: Int
}

extension AppState {
    /// The token at the centre of block `b` of `blocks` (the upper of the two middles for
    /// even sizes).
    /// A partial edge block's centre is that of its real tokens.
    static func centre(of b: Int, in blocks: BlockGrid) -> TokenCoordinate {
        let c = blocks.coordinates(of: b), e = blocks.extent(of: b)
        return TokenCoordinate(t: c.t * blocks.block.bt + e.ct / 2, y: c.i * blocks.block.bh + e.ch / 2,
                               x: c.j * blocks.block.bw + e.cw / 2)
    }

    /// The raster index of the block of `blocks` holding `token`.
    /// A token `--edge crop` dropped counts as in the nearest kept block.
    static func block(holding token: TokenCoordinate, in blocks: BlockGrid) -> Int {
        let k = blocks.kept
        let token = TokenCoordinate(t: min(token.t, k.t - 1), y: min(token.y, k.h - 1), x: min(token.x, k.w - 1))
        return ((token.t / blocks.block.bt) * blocks.hb + token.y / blocks.block.bh) * blocks.wb + token.x / blocks.block.bw
    }
}
