/// The outputs of a mask on a joint text-video sequence (issue 18, item 2).
///
/// Convention: the NABLA cut (and STA) runs on the video-to-video pooled map only; text
/// query rows and text key columns are always kept; recall counts the true mass on text
/// keys as kept (`JointRecall`). The statistics (`density`, `mass_kept`) stay those of
/// the video-to-video mask; `mask.npy` and the BlockMask rows are on the joint blocks.
extension MaskReport {
    /// `summary.json`'s `text` object: the tokens, their place and blocks, the joint block
    /// count and numbering, the convention and how to load the rows into FlexAttention.
    func textJSON(_ sequence: JointSequence) -> JSON {
        let b = sequence.video.block.tokens, ntb = sequence.textBlocks
        let padded = ntb * b
        let order = sequence.text.place == .start
            ? "joint blocks 0..<\(ntb) are text (tokens i*\(b) ..< min((i+1)*\(b), \(sequence.text.count))), blocks \(ntb)..<\(sequence.count) are video blocks 0..<\(sequence.video.count)"
            : "joint blocks 0..<\(sequence.video.count) are the video blocks, blocks \(sequence.video.count)..<\(sequence.count) are text (text token i*\(b) onwards of each)"
        return .object([
            ("text_tokens", .int(sequence.text.count)),
            ("text_place", .string(sequence.text.place.rawValue)),
            ("text_blocks", .int(ntb)),
            ("video_tokens", .int(sequence.video.keptTokens)),
            ("joint_blocks", .int(sequence.count)),
            ("joint_order", .string(order)),
            ("convention", .string("the NABLA cut and STA run on the video-to-video pooled map only; text query rows and text key columns "
                + "are always kept; density and mass_kept are of the video-to-video mask; recall counts the true mass on text keys as kept")),
            ("outputs_means", .string("mask.npy is [heads, \(sequence.count), \(sequence.count)] and kv_num_blocks / kv_indices are "
                + "rows over the \(sequence.count) joint blocks in sequence order; frame_coverage.npy is of the video blocks")),
            ("flex_attention", .string("the text occupies \(ntb) block(s) of BLOCK_SIZE = \(b) (padded text length \(padded) for "
                + "\(sequence.text.count) tokens); pad the text with \(padded - sequence.text.count) zero rows at its end and the video "
                + "blocks as flex_attention.padding_means says, and hide the padded keys with a mask_mod")),
        ])
    }

    /// Writes `mask.npy` (uint8 `[heads, Nj, Nj]`), `kv_num_blocks.npy` (int32
    /// `[heads, Nj]`), `kv_indices.npy` (int32 `[heads, Nj, Nj]`) on the joint blocks,
    /// `frame_coverage.npy` of the video blocks and `summary.json` into `stage`.
    /// - Throws: `NablaError.writeFailed`, one line naming the path and the reason.
    /// - Complexity: O(heads * Nj^2), the joint rows held whole.
    func writeJoint(_ sequence: JointSequence, into stage: OutputSet.Stage, shownAs directory: String) throws -> [String] {
        let h = heads, nj = sequence.count, tb = blocks.tb
        let names = ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy", "summary.json"]
        func shown(_ name: String) -> String { OutputPath.join(directory, name) }
        let kept = sequence.jointKept(mask)
        try stage.write(NPY.encode(kept, shape: [h, nj, nj], name: shown(names[0])), named: names[0])
        let rows = sequence.kvRows(mask)
        try stage.write(NPY.encode(rows.numBlocks, shape: [h, nj], name: shown(names[1])), named: names[1])
        try stage.write(NPY.encode(rows.indices, shape: [h, nj, nj], name: shown(names[2])), named: names[2])
        try stage.write(NPY.encode(mask.statistics.frameCoverage.map { Float($0) }, shape: [h, tb, tb], name: shown(names[3])),
                        named: names[3])
        try stage.write(Array((json(outputs: names).rendered() + "\n").utf8), named: names[4])
        return names
    }
}
