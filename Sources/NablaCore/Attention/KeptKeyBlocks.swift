/// The key blocks each query block attends to, as block-sparse attention visits them: the
/// FlexAttention `kv_num_blocks` / `kv_indices` rows (NABLA.md step 5) without the dropped
/// tail.
///
/// Layout: `count` is `[heads, N]`; `indices` is `[heads, N, N]` with row `(h, a)` holding
/// its `count[h, a]` kept key blocks in ascending order first (the rest of the row unused).
/// Blocks are numbered raster over the block grid.
public struct KeptKeyBlocks: Sendable, Equatable {
    public let heads: Int
    /// `N`, blocks per side of each head's mask.
    public let n: Int
    public let count: [Int32]
    public let indices: [Int32]
    /// `[N]`: real tokens of each block when the block grid has partial edge blocks (the
    /// densities then count real token pairs), `nil` when every block holds `B`.
    public var blockTokens: [Int32]?

    /// The rows of a `[heads, N, N]` mask (nonzero is kept).
    /// - Complexity: O(heads * N^2).
    public init(kept: [UInt8], heads: Int, n: Int) {
        precondition(kept.count == heads * n * n, "mask must be [heads, N, N]")
        self.heads = heads
        self.n = n
        var count = [Int32](repeating: 0, count: heads * n)
        var indices = [Int32](repeating: 0, count: heads * n * n)
        for row in 0..<(heads * n) {
            var c = 0
            for b in 0..<n where kept[row * n + b] != 0 {
                indices[row * n + c] = Int32(truncatingIfNeeded: b)
                c += 1
            }
            count[row] = Int32(truncatingIfNeeded: c)
        }
        self.count = count
        self.indices = indices
    }

    /// The rows of `mask`.
    public init(_ mask: BlockMask) {
        self.init(kept: mask.kept, heads: mask.heads, n: mask.n)
        if !mask.blocks.isUniform { blockTokens = mask.blocks.blockTokenCounts() }
    }

    /// The rows of a `[heads, N, N]` mask on `blocks` (densities over real tokens when it
    /// has partial edge blocks).
    public init(kept: [UInt8], heads: Int, blocks: BlockGrid) {
        self.init(kept: kept, heads: heads, n: blocks.count)
        if !blocks.isUniform { blockTokens = blocks.blockTokenCounts() }
    }

    /// Every key block for every query block: dense attention.
    public static func all(heads: Int, n: Int) -> KeptKeyBlocks {
        KeptKeyBlocks(kept: [UInt8](repeating: 1, count: heads * n * n), heads: heads, n: n)
    }

    /// Kept blocks of head `h`.
    public func keptBlocks(head h: Int) -> Int {
        count[(h * n)..<((h + 1) * n)].reduce(0) { $0 + Int($1) }
    }

    /// Kept blocks / `N^2` of head `h`; with `blockTokens`, kept token pairs / `S^2`.
    public func density(head h: Int) -> Double {
        guard let tokens = blockTokens else { return Double(keptBlocks(head: h)) / Double(n * n) }
        let s = Double(tokens.reduce(0) { $0 + Int($1) })
        var pairs = 0.0
        for a in 0..<n {
            let r = h * n + a
            var keys = 0
            for i in 0..<Int(count[r]) { keys += Int(tokens[Int(indices[r * n + i])]) }
            pairs += Double(tokens[a]) * Double(keys)
        }
        return pairs / (s * s)
    }

    /// Kept blocks / `heads * N^2`; with `blockTokens`, the mean of the heads' densities.
    public var density: Double {
        if blockTokens != nil { return (0..<heads).reduce(0.0) { $0 + density(head: $1) } / Double(max(heads, 1)) }
        return Double(count.reduce(0) { $0 + Int($1) }) / Double(max(heads * n * n, 1))
    }
}
