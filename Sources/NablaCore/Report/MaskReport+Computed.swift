extension MaskReport {
    /// The report of a map and mask already computed (the app's `:save` writes what its
    /// screen holds): no pooling, map or cut again; the times are the map's and the mask's.
    ///
    /// `mask` must be the mask of every head of `map` (`[heads, N, N]`, same block grid).
    /// - Complexity: O(heads * N^2) for kv_num_blocks.
    public init(input: QKInput, map: PooledMap, mask: BlockMask) {
        precondition(mask.blocks == map.blocks && mask.heads == map.heads, "the mask is not of this map")
        self.init(input: input, blocks: map.blocks, map: map, mask: mask, times: map.times + mask.times)
    }
}
