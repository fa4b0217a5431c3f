extension InputSpec {
    /// Refuses, before anything is converted or pooled, an input whose mask computation
    /// would need more memory than is available (see `MaskMemory`), counting the tensors
    /// it will read. For Q/K files the estimate comes from the headers alone (no data is
    /// read); the built-in sample and latents are checked
    /// with `MaskMemory.check(input:block:use:)` once their Q/K exist.
    /// - Throws: `NablaError.tooLarge` naming the estimate, what is available and what
    ///   would fit; the plan's own errors.
    ///
    /// Only the selected heads count, and their bytes as `load` reads them
    /// (`InputPlan.bytesToRead(heads:values:)`; `values: false` when V is not read).
    public func checkMemory(block: BlockShape, use: MaskMemory.Use, halfInPlace: Bool = false, values: Bool = true,
                            available: (bytes: Int, source: String)? = MaskMemory.available()) throws {
        let plan = try plan()
        guard case .qk(let q, _, _, let layout, _, _) = plan else { return }
        try heads?.validate(heads: layout.heads, of: q.name)
        let picked = heads?.indices ?? Array(0..<layout.heads)
        let step = picked.count > 1 ? picked[1] - picked[0] : 1
        let evenly = step > 0 && zip(picked, picked.dropFirst()).allSatisfy { $1 - $0 == step }
        // Heads read alone are compact [heads, S, D]: in place whenever the dtype allows.
        let compact = picked.count < layout.heads && HeadRead.canRead(q, layout: layout)
        let inPlace = (evenly || compact) && layout.dStride == 1 && layout.uniformTokenStride != nil && q.byteOrder == .native
            && q.isCOrder && (q.dtype == .float32 || (halfInPlace && (q.dtype == .float16 || q.dtype == .bfloat16)))
        func estimate(_ shape: BlockShape) -> MaskMemory? {
            guard let grid = try? BlockGrid(grid: layout.grid, block: shape) else { return nil }
            return MaskMemory(heads: picked.count, n: grid.count, tokens: layout.grid.tokens, headDim: layout.headDim,
                              converts: !inPlace, use: use, inputBytes: plan.bytesToRead(heads: heads, values: values))
        }
        guard let memory = estimate(block) else { return } // the block error comes later, in its own words
        try memory.check(what: displayName, block: block, headIndices: picked, available: available, larger: estimate)
    }
}

extension MaskMemory {
    /// Refuses a mask computation on a loaded `input` whose estimate exceeds what is
    /// available (the input's own memory is already spent and not counted).
    /// - Throws: `NablaError.tooLarge`.
    public static func check(input: QKInput, block: BlockShape, use: Use,
                             available: (bytes: Int, source: String)? = MaskMemory.available()) throws {
        func estimate(_ shape: BlockShape) -> MaskMemory? {
            guard let grid = try? BlockGrid(grid: input.grid, block: shape) else { return nil }
            return MaskMemory(heads: input.heads, n: grid.count, tokens: input.grid.tokens, headDim: input.headDim,
                              converts: false, use: use)
        }
        guard let memory = estimate(block) else { return }
        try memory.check(what: input.name, block: block, headIndices: input.headIndices, available: available, larger: estimate)
    }
}
