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
    static func centre(of b: Int, in blocks: BlockGrid) -> TokenCoordinate {
        let c = blocks.coordinates(of: b)
        return TokenCoordinate(t: c.t * blocks.block.bt + blocks.block.bt / 2, y: c.i * blocks.block.bh + blocks.block.bh / 2,
                               x: c.j * blocks.block.bw + blocks.block.bw / 2)
    }

    /// The raster index of the block of `blocks` holding `token`.
    static func block(holding token: TokenCoordinate, in blocks: BlockGrid) -> Int {
        ((token.t / blocks.block.bt) * blocks.hb + token.y / blocks.block.bh) * blocks.wb + token.x / blocks.block.bw
    }
}
