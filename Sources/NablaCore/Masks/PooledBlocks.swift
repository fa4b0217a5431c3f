/// Mean-pooled query and key vectors per block: `qa[h, n] = mean of q over the tokens of
/// block n` (NABLA.md step 1), in `Double`.
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
        let perm = blocks.blockOrderPermutation()
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

    private static func pool(_ x: HeadTokens, gather: [Int32], blocks: BlockGrid) -> [Double] {
        let n = blocks.count, d = x.headDim, bs = blocks.block.tokens, heads = x.heads
        var out = [Double](repeating: 0, count: heads * n * d)
        let count = Double(bs)
        let chunks = Parallel.chunks(n, minChunk: 8)
        out.withUnsafeMutableBufferPointer { dst in
            gather.withUnsafeBufferPointer { g in
                Parallel.forEach(heads * chunks.count) { item in
                    let h = item / chunks.count
                    for b in chunks[item % chunks.count] {
                        let acc = dst.baseAddress! + (h * n + b) * d
                        let rows = g.baseAddress! + b * bs
                        sumRows(x, head: h, rows: rows, count: bs, d: d, into: acc)
                        for j in 0..<d { acc[j] /= count }
                    }
                }
            }
        }
        return out
    }

    /// `acc[0..<d] = sum over i of x.row(head, rows[i])`, summing tokens one after another
    /// in `Double` per dimension, 32 dimensions at a time in registers. 16-bit elements
    /// are widened as they are read (exactly: every float16 and bfloat16 is a `Float`).
    @inline(__always)
    private static func sumRows(_ x: HeadTokens, head h: Int, rows: UnsafePointer<Int32>, count: Int, d: Int,
                                into acc: UnsafeMutablePointer<Double>) {
        switch x.element {
        case .float32: sumRows(x, F32.self, head: h, rows: rows, count: count, d: d, into: acc)
        case .float16: sumRows(x, F16.self, head: h, rows: rows, count: count, d: d, into: acc)
        case .bfloat16: sumRows(x, BF16.self, head: h, rows: rows, count: count, d: d, into: acc)
        }
    }

    @inline(__always)
    private static func sumRows<L: ElementLoader>(_ x: HeadTokens, _: L.Type, head h: Int, rows: UnsafePointer<Int32>,
                                                  count: Int, d: Int, into acc: UnsafeMutablePointer<Double>) {
        typealias V = SIMD8<Double>
        var j = 0
        while j + 32 <= d {
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            for i in 0..<count {
                let r = x.rawRow(h, Int(rows[i]))
                a0 += L.load8(r, j)
                a1 += L.load8(r, j + 8)
                a2 += L.load8(r, j + 16)
                a3 += L.load8(r, j + 24)
            }
            let out = UnsafeMutableRawPointer(acc + j)
            out.storeBytes(of: a0, toByteOffset: 0, as: V.self)
            out.storeBytes(of: a1, toByteOffset: 64, as: V.self)
            out.storeBytes(of: a2, toByteOffset: 128, as: V.self)
            out.storeBytes(of: a3, toByteOffset: 192, as: V.self)
            j += 32
        }
        while j + 8 <= d {
            var a0 = V()
            for i in 0..<count { a0 += L.load8(x.rawRow(h, Int(rows[i])), j) }
            UnsafeMutableRawPointer(acc + j).storeBytes(of: a0, as: V.self)
            j += 8
        }
        while j < d {
            var a = 0.0
            for i in 0..<count { a += L.load1(x.rawRow(h, Int(rows[i])), j) }
            acc[j] = a
            j += 1
        }
    }
}

/// Reads elements `j..<j+8` (or `j`) of a token row widened to `Double`.
private protocol ElementLoader {
    static func load8(_ row: UnsafeRawPointer, _ j: Int) -> SIMD8<Double>
    static func load1(_ row: UnsafeRawPointer, _ j: Int) -> Double
}

private enum F32: ElementLoader {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ j: Int) -> SIMD8<Double> {
        SIMD8<Double>(row.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ j: Int) -> Double {
        Double(row.loadUnaligned(fromByteOffset: j * 4, as: Float.self))
    }
}

private enum F16: ElementLoader {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ j: Int) -> SIMD8<Double> {
        SIMD8<Double>(SIMD8<Float>(row.loadUnaligned(fromByteOffset: j * 2, as: SIMD8<Float16>.self)))
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ j: Int) -> Double {
        Double(Float(row.loadUnaligned(fromByteOffset: j * 2, as: Float16.self)))
    }
}

private enum BF16: ElementLoader {
    @inline(__always) static func load8(_ row: UnsafeRawPointer, _ j: Int) -> SIMD8<Double> {
        let bits = SIMD8<UInt32>(truncatingIfNeeded: row.loadUnaligned(fromByteOffset: j * 2, as: SIMD8<UInt16>.self)) &<< 16
        return SIMD8<Double>(unsafeBitCast(bits, to: SIMD8<Float>.self))
    }
    @inline(__always) static func load1(_ row: UnsafeRawPointer, _ j: Int) -> Double {
        Double(Float(bitPattern: UInt32(row.loadUnaligned(fromByteOffset: j * 2, as: UInt16.self)) << 16))
    }
}
