import CNablaKernels

/// Mean-pooled query and key vectors per block: `qa[h, n] = mean of q over the tokens of
/// block n` (NABLA.md step 1), in `Double`. A partial edge block (`EdgeMode.pad`) is the
/// mean over its real tokens only (VSA's rule: the sum over the block divided by its
/// `variable_block_sizes` entry, hao-ai-lab/FastVideo `csrc/attn/video_sparse_attn`).
///
/// Layout: `qa` and `ka` are `[heads, N, D]`, blocks numbered raster over the block grid.
/// Tokens are summed in block order, one after another, then divided by the block size,
/// as the reference does, so the pooled vectors agree with it to the last bit.
public struct PooledBlocks: Sendable {
    public let blocks: BlockGrid
    public let heads: Int
    public let headDim: Int
    public let qa: [Double]
    public let ka: [Double]

    /// Pools `input` over the blocks of `blocks` (whose grid must be the input's).
    /// - Complexity: O(heads * S * D), heads and block ranges in parallel.
    public init(input: QKInput, blocks: BlockGrid) {
        precondition(blocks.grid == input.grid, "block grid must be built on the input's grid")
        self.blocks = blocks
        heads = input.heads
        headDim = input.headDim
        // For every block-order position, the stored row of that token.
        let storedRows = (try? input.order.storedRows(for: input.grid)) ?? []
        precondition(storedRows.count == input.grid.tokens, "the input's token order must fit its grid")
        let perm = blocks.blockOrderPermutation()  // [keptTokens]
        let gather = perm.map { storedRows[Int($0)] }
        qa = PooledBlocks.pool(input.q, gather: gather, blocks: blocks)
        ka = PooledBlocks.pool(input.k, gather: gather, blocks: blocks)
    }

    /// The pooled vectors of head `h` alone.
    public func head(_ h: Int) -> PooledBlocks {
        let size = blocks.count * headDim
        return PooledBlocks(blocks: blocks, heads: 1, headDim: headDim,
                            qa: Array(qa[(h * size)..<((h + 1) * size)]), ka: Array(ka[(h * size)..<((h + 1) * size)]))
    }

    init(blocks: BlockGrid, heads: Int, headDim: Int, qa: [Double], ka: [Double]) {
        self.blocks = blocks
        self.heads = heads
        self.headDim = headDim
        self.qa = qa
        self.ka = ka
    }

    /// Pools every head of `x` by the C kernels (`nabla_kernels.pool_rows`): per block, the
    /// block's token rows summed one after another in `Double` per dimension (16-bit
    /// elements widened exactly as they are read), then divided by the block's real token
    /// count (`B` for every block of a grid the block divides).
    private static func pool(_ x: HeadTokens, gather: [Int32], blocks: BlockGrid) -> [Double] {
        let n = blocks.count, d = x.headDim, heads = x.heads
        let offsets = (0..<n).map { blocks.offset(ofBlock: $0) }
        let counts = (0..<n).map { blocks.tokens(inBlock: $0) }
        // The kernel level is read here, on the caller's task, and handed to the workers.
        let kernels = KernelVariant.current.table
        var out = [Double](repeating: 0, count: heads * n * d)
        let element: Int32 = switch x.element {
        case .float32: 0
        case .float16: 1
        case .bfloat16: 2
        }
        let stride = x.tokenStride * x.element.size
        let chunks = Parallel.chunks(n, minChunk: 8)
        out.withUnsafeMutableBufferPointer { dst in
            gather.withUnsafeBufferPointer { g in
                Parallel.forEach(heads * chunks.count) { item in
                    let h = item / chunks.count
                    let base = x.rawRow(h, 0)
                    for b in chunks[item % chunks.count] {
                        let bs = counts[b]
                        kernels.pointee.pool_rows(base, element, stride, g.baseAddress! + offsets[b], Int32(bs), Int32(d),
                                                  Double(bs), dst.baseAddress! + (h * n + b) * d)
                    }
                }
            }
        }
        return out
    }
}
