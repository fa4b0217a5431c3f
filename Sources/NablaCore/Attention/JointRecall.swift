import Foundation

/// Exact recall of a mask on a joint text-video sequence (issue 18, item 2): for each
/// head, the mean over every query token (text and video) of the share of its softmax
/// probability (`softmax over all keys of q.k / sqrt(D)`, text and video keys alike) that
/// falls on kept keys. Text keys are always kept and text query rows keep every key (their
/// recall is 1); a video query token of block `a` keeps the video keys of the blocks `b`
/// with `mask.isKept(head, a, b)`. Under `EdgeMode.crop` the dropped video tokens are
/// neither queries nor keys.
public enum JointRecall {
    /// Recall of `mask` (the video-to-video mask of `input`'s video tokens) per head of
    /// `input`, `[heads]`.
    /// - Precondition: `mask` is on `input.blockGrid(mask.blocks.block)`.
    /// - Throws: `NablaError.badGrid` when the block grid is not on the input's grid.
    /// - Complexity: O(heads * S^2 * D) with `S = Nt + Nv`, query tokens in parallel.
    public static func recall(input: QKInput, mask: BlockMask) throws -> [Double] {
        let blocks = mask.blocks
        guard blocks.grid == input.grid else {
            throw NablaError(.badGrid, "block grid \(blocks) is on grid \(blocks.grid), the input's grid is \(input.grid)")
        }
        let stored = try input.order.storedRows(for: input.grid)
        let perm = blocks.blockOrderPermutation()
        // The stored video rows in blocks, with the block of each.
        var rows: [Int] = [], blockOf: [Int] = []
        for n in 0..<blocks.count {
            let offset = blocks.offset(ofBlock: n)
            for i in 0..<blocks.tokens(inBlock: n) {
                rows.append(Int(stored[Int(perm[offset + i])]))
                blockOf.append(n)
            }
        }
        let nt = input.text?.tokens.count ?? 0, nv = rows.count, d = input.headDim
        let scale = 1 / Double(d).squareRoot()
        var out: [Double] = []
        for h in 0..<input.heads {
            // Keys as Float rows: text first, then the video rows in block order.
            var keys = [Float](repeating: 0, count: (nt + nv) * d)
            var queries = [Float](repeating: 0, count: nv * d)
            keys.withUnsafeMutableBufferPointer { k in
                queries.withUnsafeMutableBufferPointer { q in
                    for i in 0..<nt { input.text!.k.copyRow(h, i, into: k.baseAddress! + i * d) }
                    for (i, r) in rows.enumerated() {
                        input.k.copyRow(h, r, into: k.baseAddress! + (nt + i) * d)
                        input.q.copyRow(h, r, into: q.baseAddress! + i * d)
                    }
                }
            }
            var perQuery = [Double](repeating: 0, count: nv)
            let kk = keys, qq = queries
            let chunks = Parallel.chunks(nv, minChunk: 16)
            perQuery.withUnsafeMutableBufferPointer { res in
                let dst = UncheckedSendable(res.baseAddress!)
                Parallel.forEach(chunks.count) { c in
                    var logits = [Double](repeating: 0, count: nt + nv)
                    for i in chunks[c] {
                        var top = -Double.infinity
                        for j in 0..<(nt + nv) {
                            var dot: Float = 0
                            for x in 0..<d { dot += qq[i * d + x] * kk[j * d + x] }
                            logits[j] = Double(dot) * scale
                            top = Swift.max(top, logits[j])
                        }
                        var total = 0.0, kept = 0.0
                        let a = blockOf[i]
                        for j in 0..<(nt + nv) {
                            let p = Foundation.exp(logits[j] - top)
                            total += p
                            if j < nt || mask.isKept(head: h, query: a, key: blockOf[j - nt]) { kept += p }
                        }
                        dst.value[i] = kept / total
                    }
                }
            }
            out.append((Double(nt) + perQuery.reduce(0, +)) / Double(nt + nv))
        }
        return out
    }
}
