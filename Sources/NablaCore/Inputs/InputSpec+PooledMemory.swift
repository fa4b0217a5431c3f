import Foundation

extension InputSpec {
    /// Refuses, before anything is read, a one-pass pooled computation
    /// (`loadPooled(block:)`) whose estimate exceeds what is available, counting only what
    /// that path holds: the pooled vectors of the selected heads, their maps or cuts
    /// (`use`), and one slab of read bytes per core (`StreamedPool`: the larger of its
    /// 16 MiB and one time-row of blocks of the heads read together, at most the whole
    /// tensor's rows) — never the token-level tensors, which the pass does not keep.
    ///
    /// Returns `false`, checking nothing, when the input cannot be pooled this way from
    /// its headers (not Q/K files, joint text tokens, a dtype or byte order the pass does
    /// not read, no seekable run): the caller then checks and loads the ordinary way
    /// (`checkMemory(block:use:...)`). A non-finite value is found only while reading;
    /// the caller falls back then too.
    /// - Throws: `NablaError.tooLarge` naming the estimate, what is available and what
    ///   would fit; `.badArgument` for a head out of range; the plan's own errors.
    /// - Complexity: O(header bytes); no tensor data is read.
    public func checkPooledMemory(block: BlockShape, use: MaskMemory.Use,
                                  available: (bytes: Int, source: String)? = MaskMemory.available()) throws -> Bool {
        guard case .qk(let q, let k, _, let layout, _, _) = try plan(), (layout.text?.count ?? 0) == 0,
              let element = StreamedPool.element(of: q, layout: layout), StreamedPool.element(of: k, layout: layout) == element
        else { return false }
        try heads?.validate(heads: layout.heads, of: q.name)
        let picked = heads?.indices ?? Array(0..<layout.heads)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        func estimate(_ shape: BlockShape) -> MaskMemory? {
            guard let grid = try? BlockGrid(grid: layout.grid, block: shape, edge: edge ?? .pad) else { return nil }
            // A slab holds whole blocks' rows: one block-row in time of every selected head
            // (interleaved rows) or of one head, and at least `defaultSlabBytes`.
            let rowBytes = (layout.headStride >= layout.grid.tokens * layout.headDim ? 1 : picked.count) * layout.headDim * element.size
            let slabRows = (layout.grid.tokens + grid.count - 1) / max(grid.count, 1) * max(grid.hb * grid.wb, 1)
            let slab = min(max(StreamedPool.defaultSlabBytes, slabRows * rowBytes), layout.grid.tokens * rowBytes)
            return MaskMemory(heads: picked.count, n: grid.count, tokens: layout.grid.tokens, headDim: layout.headDim,
                              converts: false, use: use, inputBytes: cores * slab)
        }
        guard let memory = estimate(block) else { return true } // the block error comes later, in its own words
        try memory.check(what: displayName, block: block, headIndices: picked, available: available, larger: estimate)
        return true
    }
}

extension PooledMap {
    /// The map of every head of an input pooled from its file (`InputSpec.loadPooled`),
    /// its times the `pool` pass (read, convert and pool, `input.poolMs`) and `map`; `nil`
    /// when `isCancelled` (polled by the workers before every group of query rows, so
    /// safe to call concurrently) returned `true`.
    ///
    /// Equal, probability for probability, to `compute(load(), block:)` of the same input:
    /// the pooled vectors are bit for bit those of `PooledBlocks(input:blocks:)`.
    /// - Complexity: O(heads * N^2 * D), heads and rows in parallel; memory `8 * heads * N^2`.
    public static func compute(pooled input: PooledInput, isCancelled: () -> Bool = { false }) -> PooledMap? {
        guard let map = compute(input.pooled, isCancelled: isCancelled) else { return nil }
        return PooledMap(blocks: map.blocks, heads: map.heads, probs: map.probs,
                         times: StageTimes([("pool", input.poolMs)]) + map.times)
    }
}
