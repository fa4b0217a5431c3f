extension QKInput {
    /// Builds the input from planned tensors (data not yet read), reading only what is
    /// needed: with a `heads` subset, only those heads' bytes of Q, K and V (`HeadRead`),
    /// each tensor read and converted (or viewed in place) before the next is read; with
    /// all heads, each tensor whole, as `from(q:k:v:layout:vLayout:...)` does.
    ///
    /// `values: false` leaves V unread (the mask engine does not use it).
    /// `halfInPlace` keeps float16/bfloat16 Q and K (and V with `halfValues`) as 16-bit
    /// views of the bytes read (`from(...)`).
    /// - Throws: `.badArgument` for a head index out of range; the tensors' read errors;
    ///   `.nonFinite` naming the tensor and the index (in the file's tensor) of the first
    ///   bad value of the heads read.
    /// - Complexity: O(bytes of the selected heads) read when the tensors can be read by
    ///   head (`HeadRead.canRead`), else O(whole tensors).
    public static func reading(q: PlannedTensor, k: PlannedTensor, v: PlannedTensor?, layout: QKLayout,
                               vLayout: QKLayout?, name: String, heads: HeadSelection?, halfInPlace: Bool = false,
                               halfValues: Bool = false, values: Bool = true, progress: ReadProgress? = nil) throws -> QKInput {
        try heads?.validate(heads: layout.heads, of: q.name)
        let v = values ? v : Optional<PlannedTensor>.none
        guard let heads, heads.indices.count < layout.heads, layout.textLayout == nil else {
            let qRaw = try q.load(progress: progress)
            let kRaw = try k.load(progress: progress)
            let vRaw = try v?.load(progress: progress)
            return try from(q: qRaw, k: kRaw, v: vRaw, layout: layout, vLayout: vLayout, name: name, heads: heads,
                            halfInPlace: halfInPlace, halfValues: halfValues)
        }
        let picked = heads.indices
        func tokens(_ t: PlannedTensor, _ l: QKLayout, half: Bool) throws -> HeadTokens {
            guard HeadRead.canRead(t, layout: l) else {
                return try headTokens(t.load(progress: progress), layout: l, heads: picked, halfInPlace: half)
            }
            let raw = try HeadRead.read(t, layout: l, heads: picked, progress: progress)
            return try headTokens(raw, layout: QKLayout(compactHeads: picked.count, of: l), heads: Array(picked.indices),
                                  halfInPlace: half, origin: (t.shape, l, picked))
        }
        let qt = try tokens(q, layout, half: halfInPlace)
        let kt = try tokens(k, layout, half: halfInPlace)
        let vt = try v.flatMap { v in try vLayout.map { try tokens(v, $0, half: halfInPlace && halfValues) } }
        return QKInput(name: name, q: qt, k: kt, v: vt, grid: layout.grid, order: layout.order, headIndices: picked)
    }
}

extension InputPlan {
    /// Bytes of tensor data `InputSpec.load` reads for `heads` (all when `nil`), with or
    /// without V (`values`): the selected heads' bytes when the tensors can be read by
    /// head (`HeadRead.bytesToRead`).
    public func bytesToRead(heads: HeadSelection?, values: Bool = true) -> Int {
        guard case .qk(let q, let k, let planV, let layout, let vLayout, _) = self else { return bytesToRead }
        let v = values ? planV : nil
        guard let heads, heads.indices.count < layout.heads, heads.indices.allSatisfy({ $0 < layout.heads }) else {
            return q.bytesToRead + k.bytesToRead + (v?.bytesToRead ?? 0)
        }
        let picked = heads.indices
        var total = HeadRead.bytesToRead(q, layout: layout, heads: picked) + HeadRead.bytesToRead(k, layout: layout, heads: picked)
        if let v, let vLayout { total += HeadRead.bytesToRead(v, layout: vLayout, heads: picked) }
        return total
    }
}
