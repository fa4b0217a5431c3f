extension MaskReport {
    /// The `flex_attention` fields for a block grid with partial edge blocks: FlexAttention
    /// takes block `b` to be tokens `b*B ..< (b+1)*B`, so the rows are for a sequence padded
    /// to `N * B` tokens, each block's real tokens first and padding after; a `mask_mod`
    /// hides the padding keys. Empty for uniform blocks.
    func paddingNotes() -> [(String, JSON)] {
        guard !blocks.isUniform else { return [] }
        let b = blocks.block, bs = b.tokens, g = blocks.kept
        let counts = "ct = min(\(b.bt), \(g.t) - t*\(b.bt)), ch = min(\(b.bh), \(g.h) - i*\(b.bh)), cw = min(\(b.bw), \(g.w) - j*\(b.bw))"
        return [
            ("padded_length", .int(blocks.count * bs)),
            ("real_length", .int(blocks.keptTokens)),
            ("padding_means", .string("the block grid \(blocks) has partial edge blocks, so the rows are for a sequence padded to "
                + "N * BLOCK_SIZE = \(blocks.count) * \(bs) = \(blocks.count * bs) tokens: block n = (t*\(blocks.hb) + i)*\(blocks.wb) + j "
                + "holds its ct*ch*cw real tokens (\(counts)), in raster order over ct x ch x cw, at positions n*\(bs) ..< n*\(bs) + ct*ch*cw, "
                + "then padding up to (n+1)*\(bs); pad Q, K and V with zeros there")),
            ("mask_mod", .string("def mask_mod(b, h, q_idx, kv_idx): return real[kv_idx]  # real = bool tensor [\(blocks.count * bs)], "
                + "True at each block's first ct*ch*cw positions; pass mask_mod= to BlockMask.from_kv_blocks so padded keys get no "
                + "weight (padded query rows are discarded after the call)")),
        ]
    }
}
