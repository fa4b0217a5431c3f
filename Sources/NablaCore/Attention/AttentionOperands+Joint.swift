/// Attention on a joint text-video sequence (issue 18, item 2): the text tokens are packed
/// as extra blocks of `B` tokens (the last one partial) in joint block order
/// (`JointSequence`), and every mask handed to the kernels keeps each text query row and
/// each text key column, so the kernels run text rows and columns densely while the
/// video-to-video blocks follow the video's own mask.
extension JointSequence {
    /// `[Nj]`: real tokens of each joint block (`tokens(inBlock:)`), in joint order.
    /// - Complexity: O(Nj).
    public func blockTokenCounts() -> [Int32] {
        (0..<count).map { Int32(truncatingIfNeeded: tokens(inBlock: $0)) }
    }

    /// Whether every joint block holds `B` tokens: the video's blocks are whole and `Nt` is
    /// a multiple of `B`.
    public var isUniform: Bool { video.isUniform && text.count % video.block.tokens == 0 }

    /// The joint rows of `video` (rows over the video's `Nvb` blocks): `[heads, Nj]` /
    /// `[heads, Nj, Nj]` with every text row and column kept and the video-to-video part
    /// `video`'s; `blockTokens` the joint blocks' counts when they differ (the densities
    /// are then over real token pairs of the whole sequence).
    /// - Complexity: O(heads * Nj^2).
    public func keptKeyBlocks(_ video: KeptKeyBlocks) -> KeptKeyBlocks {
        precondition(video.n == self.video.count, "the rows must be on the video's block grid")
        let nj = count, nv = video.n, first = firstVideoBlock
        var kept = [UInt8](repeating: 1, count: video.heads * nj * nj)
        for h in 0..<video.heads {
            for a in 0..<nv {
                let row = h * nv + a, base = (h * nj + first + a) * nj + first
                for b in 0..<nv { kept[base + b] = 0 }
                for i in 0..<Int(video.count[row]) { kept[base + Int(video.indices[row * nv + i])] = 1 }
            }
        }
        return keptKeyBlocks(joint: kept, heads: video.heads)
    }

    /// The joint rows of `mask` (the video's block mask), as `keptKeyBlocks(_:)`.
    /// - Complexity: O(heads * Nj^2).
    public func keptKeyBlocks(_ mask: BlockMask) -> KeptKeyBlocks {
        precondition(mask.n == video.count, "the mask must be on the video's block grid")
        return keptKeyBlocks(joint: jointKept(mask), heads: mask.heads)
    }

    /// The rows of a `[heads, Nj, Nj]` joint mask (nonzero is kept), with the joint blocks'
    /// counts when they differ.
    /// - Complexity: O(heads * Nj^2).
    public func keptKeyBlocks(joint kept: [UInt8], heads: Int) -> KeptKeyBlocks {
        var rows = KeptKeyBlocks(kept: kept, heads: heads, n: count)
        if !isUniform { rows.blockTokens = blockTokenCounts() }
        return rows
    }

    /// Whether head `h`'s rows of the joint rows `kept` keep every text row and every text
    /// column (the convention of `jointKept`); the first `(head, query block, key block)`
    /// that does not, else `nil`.
    public func firstDroppedText(_ kept: [UInt8], heads: Int) -> (head: Int, query: Int, key: Int)? {
        let nj = count
        for h in 0..<heads {
            for a in 0..<nj {
                for b in 0..<nj where (isText(a) || isText(b)) && kept[(h * nj + a) * nj + b] == 0 {
                    return (h, a, b)
                }
            }
        }
        return nil
    }
}

extension AttentionOperands {
    /// The rows the kernels run for `kept`: `kept` itself when it is on the kernels' `n`
    /// blocks, its joint rows (`JointSequence.keptKeyBlocks`) when it is on the video's
    /// blocks of a joint sequence.
    public func kernelRows(_ kept: KeptKeyBlocks) -> KeptKeyBlocks {
        if kept.n == n { return kept }
        guard let joint else { preconditionFailure("the mask's block count must match the operands'") }
        return joint.keptKeyBlocks(kept)
    }

    /// The gather and output rows of every block's tokens (`[N, B]` each) and the blocks'
    /// real counts (`nil` when all hold `B`): on the video's blocks, or with `joint` on the
    /// joint blocks. A video token is gathered by its stored row; text token `i` as
    /// `-(i + 1)`. Output rows: the stored row (raster over the kept grid under crop); with
    /// text, the sequence position (text at `textStart`, video at `videoStart +` its row).
    /// - Throws: the token order's errors (`TokenOrder.storedRows`).
    /// - Complexity: O(N * B).
    static func packPlan(input: QKInput, blocks: BlockGrid, joint: JointSequence?) throws
        -> (gather: [Int32], out: [Int32], counts: [Int32]?) {
        let b = blocks.block.tokens, n = joint?.count ?? blocks.count
        let stored = try input.order.storedRows(for: input.grid)
        let perm = blocks.blockOrderPermutation()
        let cropped = blocks.droppedTokens > 0
        let grid = blocks.grid, kept = blocks.kept
        var gatherRow = [Int32](repeating: 0, count: n * b), outRow = [Int32](repeating: 0, count: n * b)
        let videoBase = joint?.text.videoStart ?? 0
        // Video block `block`'s tokens into joint slot `slot`.
        func video(_ block: Int, at slot: Int) {
            let offset = blocks.offset(ofBlock: block)
            for i in 0..<blocks.tokens(inBlock: block) {
                let r = Int(perm[offset + i])
                gatherRow[slot * b + i] = stored[r]
                if cropped {
                    let x = r % grid.w, y = (r / grid.w) % grid.h, t = r / (grid.w * grid.h)
                    outRow[slot * b + i] = Int32(truncatingIfNeeded: videoBase + (t * kept.h + y) * kept.w + x)
                } else {
                    outRow[slot * b + i] = Int32(truncatingIfNeeded: videoBase + Int(stored[r]))
                }
            }
        }
        guard let joint else {
            for block in 0..<n { video(block, at: block) }
            return (gatherRow, outRow, blocks.isUniform ? nil : blocks.blockTokenCounts())
        }
        let textStart = joint.text.textStart(video: blocks.keptTokens)
        for j in 0..<n {
            if let vb = joint.videoBlock(j) {
                video(vb, at: j)
            } else {
                let t0 = (j - joint.firstTextBlock) * b
                for i in 0..<joint.tokens(inBlock: j) {
                    gatherRow[j * b + i] = Int32(truncatingIfNeeded: -(t0 + i + 1))
                    outRow[j * b + i] = Int32(truncatingIfNeeded: textStart + t0 + i)
                }
            }
        }
        return (gatherRow, outRow, joint.isUniform ? nil : joint.blockTokenCounts())
    }
}

extension MaskFile {
    /// Reads a mask on the joint blocks of `joint`, uint8 (or bool) `[heads, Nj, Nj]` in
    /// joint order, as `nabla mask --text-tokens` writes `mask.npy` (`JointSequence.jointKept`),
    /// and checks that it keeps every text row and column.
    /// - Throws: `MaskFile.read`'s errors; `NablaError.badArgument` naming the file, the
    ///   head and the block pair of a text row or column the mask drops.
    public static func read(_ path: String, heads: Int, joint: JointSequence) throws -> KeptKeyBlocks {
        let kept = try read(path, heads: heads, n: joint.count,
                            why: "\(heads) heads, \(joint); the joint mask nabla mask --text-tokens writes")
        if let (h, a, b) = joint.firstDroppedText(kept, heads: heads) {
            throw NablaError(.badArgument, "\(path): head \(h) drops query block \(a), key block \(b), a pair of a text block (joint blocks \(joint.firstTextBlock)..<\(joint.firstTextBlock + joint.textBlocks)); text rows and columns are always kept")
        }
        return joint.keptKeyBlocks(joint: kept, heads: heads)
    }
}
