extension MaskReport {
    /// The report of a map and mask already computed from an input pooled from its file
    /// (`InputSpec.loadPooled`), whose token-level tensors were never loaded: the app's
    /// `:save` while only the map is on screen. The same files and summary as
    /// `init(input:map:mask:)` on the loaded input (video tokens only: the pooled pass
    /// reads no joint text tokens).
    ///
    /// `name`, `grid`, `order`, `headDim` and `headIndices` describe the input as
    /// `PooledInput` does; `mask` must be the mask of every head of `map` (`[heads, N, N]`).
    /// - Complexity: O(heads * N^2) for kv_num_blocks.
    public init(name: String, grid: TokenGrid, order: TokenOrder, headDim: Int, headIndices: [Int],
                map: PooledMap, mask: BlockMask) {
        precondition(mask.blocks == map.blocks && mask.heads == map.heads && headIndices.count == map.heads,
                     "the mask is not of this map")
        let rows = MaskReport.flexRows(of: mask)
        inputName = name
        self.grid = grid
        self.order = order
        self.headDim = headDim
        self.headIndices = headIndices
        self.map = map
        blocks = map.blocks
        heads = map.heads
        self.mask = mask
        kvNumBlocks = rows.kvNumBlocks
        times = map.times + mask.times + rows.times
    }
}
