import Foundation

/// Q, K and V of some heads of a `QKInput`, gathered into block order and laid out for the
/// attention kernels (`AttentionOperands+Kernel.swift`).
///
/// On a joint text-video sequence (`QKInput.text`, issue 18 item 2) the text tokens are
/// packed as extra blocks of `B` tokens (the last one partial) in joint block order
/// (`JointSequence`: text blocks first for `@start`, last for `@end`), so the kernels run
/// over `N = Ntb + Nvb` blocks, each with its real token count; masks given to the kernels
/// are then on the joint blocks (`JointSequence.keptKeyBlocks`).
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
    /// The video's block grid (without the text blocks of `joint`).
    public let blocks: BlockGrid
    /// The joint sequence when the input has text tokens: the kernels' blocks are its
    /// joint blocks. `nil` for a video-only input.
    public let joint: JointSequence?
    /// The input heads packed, in slot order.
    public let heads: [Int]
    public let headDim: Int
    /// Tokens per head of the outputs: `S`, or the kept tokens under `EdgeMode.crop`; with
    /// text, `Nt +` those.
    public let tokens: Int
    /// The order of the outputs' video tokens: the input's; raster over `blocks.kept` under
    /// `EdgeMode.crop` (the dropped tokens have no output row). With text, the output rows
    /// are in sequence order: the `Nt` text rows where the text sits, the video rows in
    /// this order.
    public let order: TokenOrder
    /// Blocks the kernels run over: `blocks.count`, or `joint.count` with text.
    public let n: Int
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

    /// Query rows per register tile of the kernels.
    static let rowTile = 4

    /// Packs heads `heads` (all when `nil`) of `input` for blocks of `blocks` (with text
    /// tokens, for the joint blocks of `JointSequence(video: blocks, text:)`).
    /// - Throws: `NablaError.badGrid` when the block grid is not on the input's grid;
    ///   `.badArgument` naming a head out of range, or text tokens without V beside video
    ///   tokens with V; `.tooLarge` when the work would need more memory than is available
    ///   (`checkMemory`).
    /// - Complexity: O(slots * S * D), blocks in parallel.
    public init(input: QKInput, blocks: BlockGrid, heads: [Int]? = nil) throws {
        guard blocks.grid == input.grid else {
            throw NablaError(.badGrid, "block grid \(blocks) is on grid \(blocks.grid), the input's grid is \(input.grid)")
        }
        let text = input.text
        if let text, (input.v != nil) != (text.v != nil) {
            throw NablaError(.badArgument, "\(input.name): the video tokens have \(input.v == nil ? "no V" : "V") but the \(text.tokens) text tokens \(text.v == nil ? "have none" : "have V")")
        }
        let joint = text.map { JointSequence(video: blocks, text: $0.tokens) }
        let heads = heads ?? Array(0..<input.heads)
        if let bad = heads.first(where: { !(0..<input.heads).contains($0) }) {
            throw NablaError(.badArgument, "head \(bad) is out of range: the input has \(input.heads) heads (0...\(input.heads - 1))")
        }
        let b = blocks.block.tokens, d = input.headDim, n = joint?.count ?? blocks.count
        let outTokens = joint?.tokens ?? blocks.keptTokens
        try AttentionOperands.checkMemory(heads: heads, n: n, b: b, tokens: outTokens, headDim: d, values: input.v != nil,
                                          what: "\(input.name): attention on \(heads.count) head(s) of \(input.grid.tokens + (text?.tokens.count ?? 0)) tokens, head dim \(d)")
        let start = ContinuousClock.now
        let bq = roundUp(b, AttentionOperands.rowTile), bk = roundUp(b, 16), dv = roundUp(d, 16)
        self.blocks = blocks
        self.joint = joint
        self.heads = heads
        self.headDim = d
        self.n = n
        self.tokens = outTokens
        self.order = blocks.droppedTokens > 0 ? .raster : input.order
        tokensPerBlock = b
        rowsPerBlock = bq
        keysPerBlock = bk
        valueWidth = dv
        // Each block's tokens at n * B (a partial block's slots past its count unused);
        // a text token i is gathered as -(i + 1).
        let plan = try AttentionOperands.packPlan(input: input, blocks: blocks, joint: joint)
        storedRow = plan.out
        blockCounts = plan.counts
        let gatherRow = plan.gather
        let counts = blockCounts
        let slots = heads.count
        let q = FloatStorage(count: slots * n * bq * d)
        let kT = FloatStorage(count: slots * n * d * bk)
        let v = input.v.map { _ in FloatStorage(count: slots * n * bk * dv) }
        let scale = Float(1.4426950408889634 / Double(d).squareRoot())
        let qIn = input.q, kIn = input.k, vIn = input.v
        let tq = text?.q, tk = text?.k, tv = text?.v
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
                    let vDst = v.map { $0.buffer.baseAddress! + ((slot * n + block) * bk + i) * dv }
                    if s >= 0 {
                        qIn.copyRow(h, s, into: qs)
                        kIn.copyRow(h, s, into: ks)
                        if let vDst, let vIn { vIn.copyRow(h, s, into: vDst) }
                    } else {
                        tq!.copyRow(h, -s - 1, into: qs)
                        tk!.copyRow(h, -s - 1, into: ks)
                        if let vDst, let tv { tv.copyRow(h, -s - 1, into: vDst) }
                    }
                    for j in 0..<d {
                        qDst[i * d + j] = qs[j] * scale
                        kDst[j * bk + i] = ks[j]
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
    /// `heads` heads on the video blocks `blocks` (no text).
    public static func estimatedBytes(heads: Int, blocks: BlockGrid, headDim d: Int, values: Bool) -> Int {
        estimatedBytes(heads: heads, n: blocks.count, b: blocks.block.tokens, tokens: blocks.keptTokens, headDim: d, values: values)
    }

    /// Bytes the packed operands, one output and the scratch of one run need, for `heads`
    /// heads of `n` blocks of `b` tokens and `tokens` output rows per head (with text: the
    /// joint blocks and `Nt + Nv`).
    public static func estimatedBytes(heads: Int, n: Int, b: Int, tokens: Int, headDim d: Int, values: Bool) -> Int {
        let bq = roundUp(b, rowTile), bk = roundUp(b, 16), dv = roundUp(d, 16)
        let packed = heads * n * (bq * d + d * bk + (values ? bk * dv : 0))
        let output = values ? heads * tokens * d : 0
        let mass = 2 * heads * n * n   // Doubles, as floats
        return 4 * (packed + output + mass)
    }

    /// Refuses attention on `heads` whose estimate (`estimatedBytes`) exceeds the memory
    /// available (`MaskMemory.available()`: `MemAvailable`, or `NABLA_MEMORY_LIMIT`), in
    /// the same one line as the mask's refusal, with how many heads would fit.
    /// - Throws: `NablaError.tooLarge`.
    static func checkMemory(heads: [Int], blocks: BlockGrid, headDim: Int, values: Bool, what: String,
                            available: (bytes: Int, source: String)? = MaskMemory.available()) throws {
        try checkMemory(heads: heads, n: blocks.count, b: blocks.block.tokens, tokens: blocks.keptTokens, headDim: headDim,
                        values: values, what: what, available: available)
    }

    /// `checkMemory` for `n` blocks of `b` tokens and `tokens` output rows per head.
    /// - Throws: `NablaError.tooLarge`.
    static func checkMemory(heads: [Int], n: Int, b: Int, tokens: Int, headDim: Int, values: Bool, what: String,
                            available: (bytes: Int, source: String)? = MaskMemory.available()) throws {
        func bytes(_ count: Int) -> Int {
            estimatedBytes(heads: count, n: n, b: b, tokens: tokens, headDim: headDim, values: values)
        }
        let total = bytes(heads.count)
        guard let available, total > available.bytes else { return }
        let perHead = max(1, bytes(1))
        let k = min(heads.count - 1, available.bytes / perHead)
        let fits = k > 0 ? ["\(k) of the \(heads.count) heads (a head selection such as \(HeadSelection(Array(heads.prefix(k)))))"] : []
        throw MaskMemory.refusal("\(what) needs", bytes: total, available: available, fits: fits)
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
