extension InputSpec {
    /// Q and K pooled into `block` blocks straight from the files, in one read-convert-pool
    /// pass over the selected heads (`StreamedPool`): the pooled vectors equal, bit for bit,
    /// `PooledBlocks(input: load(), blocks:)`'s, and the token-level tensors are never held.
    ///
    /// `nil` when the input cannot be pooled this way (the sample or a latent; a tensor
    /// that is not one seekable run of float32/float16/bfloat16 in native byte order: a
    /// deflated archive member, Fortran order, float64...), has joint text tokens (their
    /// blocks join the mask, which `load()`'s path builds), or holds a non-finite value:
    /// then `load()` reads it, and names the first bad value.
    ///
    /// `progress` and `isCancelled` are as `load`'s.
    /// - Throws: as `load`: the files' and layouts' errors, `.badArgument` for a head out
    ///   of range, `NablaError.badGrid` when `block` does not divide the grid (with
    ///   `--edge` none), `.cancelled`.
    /// - Complexity: O(selected heads' bytes of Q and K) read once, O(heads * S * D)
    ///   pooled on all cores; memory O(heads * N * D) plus one slab per core.
    public func loadPooled(block: BlockShape, progress: ReadProgress.Report? = nil,
                           isCancelled: (@Sendable () -> Bool)? = nil) throws -> PooledInput? {
        guard case .qk(let q, let k, _, let layout, _, _) = try plan() else { return nil }
        // Joint text tokens: their blocks join the mask (`JointSequence`), which the full
        // path builds; the streamed pass pools video tokens only.
        if (layout.text?.count ?? 0) > 0 { return nil }
        try heads?.validate(heads: layout.heads, of: q.name)
        let picked = heads?.indices ?? Array(0..<layout.heads)
        let edge = self.edge ?? .pad
        let blocks = try BlockGrid(grid: layout.grid, block: block, edge: edge)
        let began = ContinuousClock.now
        guard let pooled = try StreamedPool.pool(q: q, k: k, layout: layout, heads: picked, blocks: blocks,
                                                 report: progress, isCancelled: isCancelled) else { return nil }
        return PooledInput(name: displayName, grid: layout.grid, order: layout.order, edge: edge, headIndices: picked,
                           pooled: pooled, poolMs: milliseconds(since: began))
    }
}

extension MaskMemory {
    /// `check(input:block:use:)` for an input pooled from its file (`InputSpec.loadPooled`):
    /// refuses a mask computation whose estimate exceeds what is available.
    /// - Throws: `NablaError.tooLarge`.
    public static func check(pooled input: PooledInput, use: Use,
                             available: (bytes: Int, source: String)? = MaskMemory.available()) throws {
        func estimate(_ shape: BlockShape) -> MaskMemory? {
            guard let grid = try? BlockGrid(grid: input.grid, block: shape, edge: input.edge) else { return nil }
            return MaskMemory(heads: input.heads, n: grid.count, tokens: input.grid.tokens, headDim: input.headDim,
                              converts: false, use: use)
        }
        guard let memory = estimate(input.blocks.block) else { return }
        try memory.check(what: input.name, block: input.blocks.block, headIndices: input.headIndices, available: available,
                         larger: estimate)
    }
}
