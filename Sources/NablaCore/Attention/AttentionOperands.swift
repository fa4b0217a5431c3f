import Foundation

/// Q, K and V of some heads of a `QKInput`, gathered into block order and laid out for the
/// attention kernels (`AttentionOperands+Kernel.swift`).
///
/// Layout, per packed head (a *slot*; `heads[slot]` is its input head):
/// - `q`: `[slots, N, Bq, D]`, the `B` tokens of each block (block order) padded with zero
///   rows to `Bq`, a multiple of 4; scaled by `log2(e) / sqrt(D)` so the kernels take
///   `2^x` of the scores.
/// - `kT`: `[slots, N, D, Bk]`, each key block transposed, keys padded with zeros to `Bk`,
///   a multiple of 16 (one `SIMD16<Float>`).
/// - `v`: `[slots, N, Bk, Dv]`, value rows padded with zeros to `Dv`, a multiple of 16.
///
/// Memory: `4 * slots * N * (Bq * D + D * Bk + Bk * Dv)` bytes, about three times the
/// heads' share of Q (see `estimatedBytes`).
public final class AttentionOperands: @unchecked Sendable {
    public let blocks: BlockGrid
    /// The input heads packed, in slot order.
    public let heads: [Int]
    public let headDim: Int
    /// Tokens per head of the outputs: `S`, or the kept tokens under `EdgeMode.crop`.
    public let tokens: Int
    /// The order of the outputs' tokens: the input's; raster over `blocks.kept` under
    /// `EdgeMode.crop` (the dropped tokens have no output row).
    public let order: TokenOrder
    /// Tokens per block, `B`.
    let tokensPerBlock: Int
    let rowsPerBlock: Int
    let keysPerBlock: Int
    let valueWidth: Int
    let q: FloatStorage
    let kT: FloatStorage
    let v: FloatStorage?
    /// `[N, B]`: the output row of each block's tokens (block order; a partial block's
    /// slots past its real tokens unused).
    let storedRow: [Int32]
    /// `[N]`: real tokens of each block, or `nil` when every block holds `B`.
    let blockCounts: [Int32]?
    /// Wall time of the packing.
    public let packMilliseconds: Double

    /// `[N]`: `count_a / S` per query block with partial edge blocks, else `nil`.
    var queryWeights: [Double]? {
        blockCounts.map { c in c.map { Double($0) / Double(tokens) } }
    }

    /// Whether V was given (dense and sparse outputs need it; recall does not).
    public var hasValues: Bool { v != nil }
    public var n: Int { blocks.count }

    /// Query rows per register tile of the kernels.
    static let rowTile = 4

    /// Packs heads `heads` (all when `nil`) of `input` for blocks of `blocks`.
    /// - Throws: `NablaError.badGrid` when the block grid is not on the input's grid;
    ///   `.badArgument` naming a head out of range; `.tooLarge` when the work would need
    ///   more memory than is available (`checkMemory`).
    /// - Complexity: O(slots * S * D), blocks in parallel.
    public init(input: QKInput, blocks: BlockGrid, heads: [Int]? = nil) throws {
        guard blocks.grid == input.grid else {
            throw NablaError(.badGrid, "block grid \(blocks) is on grid \(blocks.grid), the input's grid is \(input.grid)")
        }
        if let text = input.text {
            // The kernels run the video tokens; text rows and columns are not packed yet.
            throw NablaError(.badArgument, "\(input.name): attention with joint text tokens (\(text.tokens)) is not handled yet; masks, maps and exact recall (JointRecall) are")
        }
        let heads = heads ?? Array(0..<input.heads)
        if let bad = heads.first(where: { !(0..<input.heads).contains($0) }) {
            throw NablaError(.badArgument, "head \(bad) is out of range: the input has \(input.heads) heads (0...\(input.heads - 1))")
        }
        try AttentionOperands.checkMemory(heads: heads, blocks: blocks, headDim: input.headDim, values: input.v != nil,
                                          what: "\(input.name): attention on \(heads.count) head(s) of \(input.grid.tokens) tokens, head dim \(input.headDim)")
        let start = ContinuousClock.now
        let b = blocks.block.tokens, d = input.headDim, n = blocks.count
        let bq = roundUp(b, AttentionOperands.rowTile), bk = roundUp(b, 16), dv = roundUp(d, 16)
        self.blocks = blocks
        self.heads = heads
        self.headDim = d
        let cropped = blocks.droppedTokens > 0
        self.tokens = blocks.keptTokens
        self.order = cropped ? .raster : input.order
        tokensPerBlock = b
        rowsPerBlock = bq
        keysPerBlock = bk
        valueWidth = dv
        let stored = try input.order.storedRows(for: input.grid)
        let perm = blocks.blockOrderPermutation()
        // Each block's tokens at n * B (a partial block's slots past its count unused).
        var gatherRow = [Int32](repeating: 0, count: n * b), outRow = [Int32](repeating: 0, count: n * b)
        let grid = blocks.grid, kept = blocks.kept
        for block in 0..<n {
            let offset = blocks.offset(ofBlock: block)
            for i in 0..<blocks.tokens(inBlock: block) {
                let r = Int(perm[offset + i])
                gatherRow[block * b + i] = stored[r]
                if cropped {
                    let x = r % grid.w, y = (r / grid.w) % grid.h, t = r / (grid.w * grid.h)
                    outRow[block * b + i] = Int32(truncatingIfNeeded: (t * kept.h + y) * kept.w + x)
                } else {
                    outRow[block * b + i] = stored[r]
                }
            }
        }
        storedRow = outRow
        blockCounts = blocks.isUniform ? nil : blocks.blockTokenCounts()
        let counts = blockCounts
        let slots = heads.count
        let q = FloatStorage(count: slots * n * bq * d)
        let kT = FloatStorage(count: slots * n * d * bk)
        let v = input.v.map { _ in FloatStorage(count: slots * n * bk * dv) }
        let scale = Float(1.4426950408889634 / Double(d).squareRoot())
        let qIn = input.q, kIn = input.k, vIn = input.v
        gatherRow.withUnsafeBufferPointer { rows in
            Parallel.forEach(slots * n) { item in
                let slot = item / n, block = item % n, h = heads[slot]
                let qDst = q.buffer.baseAddress! + (slot * n + block) * bq * d
                let kDst = kT.buffer.baseAddress! + (slot * n + block) * d * bk
                let qs = UnsafeMutablePointer<Float>.allocate(capacity: d)
                let ks = UnsafeMutablePointer<Float>.allocate(capacity: d)
                defer { qs.deallocate(); ks.deallocate() }
                for i in 0..<(counts.map { Int($0[block]) } ?? b) {
                    let s = Int(rows[block * b + i])
                    qIn.copyRow(h, s, into: qs)
                    kIn.copyRow(h, s, into: ks)
                    for j in 0..<d {
                        qDst[i * d + j] = qs[j] * scale
                        kDst[j * bk + i] = ks[j]
                    }
                    if let v, let vIn {
                        vIn.copyRow(h, s, into: v.buffer.baseAddress! + ((slot * n + block) * bk + i) * dv)
                    }
                }
            }
        }
        self.q = q
        self.kT = kT
        self.v = v
        packMilliseconds = milliseconds(since: start)
    }

    /// Bytes the packed operands, one output and the scratch of one run need, for
    /// `heads` heads.
    public static func estimatedBytes(heads: Int, blocks: BlockGrid, headDim d: Int, values: Bool) -> Int {
        let n = blocks.count, b = blocks.block.tokens
        let bq = roundUp(b, rowTile), bk = roundUp(b, 16), dv = roundUp(d, 16)
        let packed = heads * n * (bq * d + d * bk + (values ? bk * dv : 0))
        let output = values ? heads * blocks.keptTokens * d : 0
        let mass = 2 * heads * n * n   // Doubles, as floats
        return 4 * (packed + output + mass)
    }

    /// Refuses attention on `heads` whose estimate (`estimatedBytes`) exceeds the memory
    /// available (`MaskMemory.available()`: `MemAvailable`, or `NABLA_MEMORY_LIMIT`), in
    /// the same one line as the mask's refusal, with how many heads would fit.
    /// - Throws: `NablaError.tooLarge`.
    static func checkMemory(heads: [Int], blocks: BlockGrid, headDim: Int, values: Bool, what: String,
                            available: (bytes: Int, source: String)? = MaskMemory.available()) throws {
        let bytes = estimatedBytes(heads: heads.count, blocks: blocks, headDim: headDim, values: values)
        guard let available, bytes > available.bytes else { return }
        let perHead = max(1, estimatedBytes(heads: 1, blocks: blocks, headDim: headDim, values: values))
        let k = min(heads.count - 1, available.bytes / perHead)
        let fits = k > 0 ? ["\(k) of the \(heads.count) heads (a head selection such as \(HeadSelection(Array(heads.prefix(k)))))"] : []
        throw MaskMemory.refusal("\(what) needs", bytes: bytes, available: available, fits: fits)
    }
}

func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }


extension HeadTokens {
    /// Copies the `D` values of token `s` of head `h` into `out` as `Float`, whatever the
    /// element type (16-bit views are widened exactly).
    func copyRow(_ h: Int, _ s: Int, into out: UnsafeMutablePointer<Float>) {
        switch element {
        case .float32:
            out.update(from: row(h, s), count: headDim)
        case .float16:
            let r = rawRow(h, s)
            for j in 0..<headDim { out[j] = halfToFloat(r.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)) }
        case .bfloat16:
            let r = rawRow(h, s)
            for j in 0..<headDim {
                out[j] = Float(bitPattern: UInt32(r.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)) << 16)
            }
        }
    }
}
