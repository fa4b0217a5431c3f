import CNablaKernels
import Foundation

/// Q and K of an input pooled straight from its file (`InputSpec.loadPooled`): what the
/// pooled map and the mask need, without the token-level tensors.
public struct PooledInput: Sendable {
    /// The input's display name (`InputSpec.displayName`).
    public let name: String
    public let grid: TokenGrid
    public let order: TokenOrder
    public let edge: EdgeMode
    /// The tensor index of each pooled head (see `QKInput.headIndices`).
    public let headIndices: [Int]
    /// `qa`, `ka`, `[heads, N, D]`: equal, bit for bit, to `PooledBlocks(input:blocks:)` of
    /// the loaded input.
    public let pooled: PooledBlocks
    /// Wall time of the read-convert-pool pass, ms.
    public let poolMs: Double

    public var heads: Int { pooled.heads }
    public var headDim: Int { pooled.headDim }
    public var blocks: BlockGrid { pooled.blocks }
}

/// Reads, converts and pools Q and K in one pass over the file, slab by slab, in
/// parallel: no tensor is ever whole in memory, nor in `Float`.
///
/// A slab is a run of stored tokens holding whole blocks (for raster order: the frames
/// of one row of blocks in time; for block order: whole blocks), with the gaps between
/// blocks (cropped tokens) joined to a neighbour so every stored token is read once. A
/// work item is one slab of one head when the heads lie before the tokens
/// (`[heads, S, D]`: one contiguous run per head), or one slab of the selected heads when
/// they are interleaved (`[S, heads, D]`: the slab's token rows, one run; when the heads
/// asked for fill only part of each row, read a span of `HeadRead.spanBytes` of rows at a
/// time and their `D` values copied compact). Each worker
/// reads an item into its buffer (`pread`), checks that it is finite and pools
/// each of its blocks with the same kernel, in the same row order, as
/// `PooledBlocks(input:blocks:)` (`nabla_kernels.pool_rows`: the block's rows summed one
/// after another in `Double`), so the pooled vectors are identical.
///
/// Memory: the pooled vectors plus one slab of the selected heads per worker (for
/// Wan2.1-14B at 720p, `[1, S, 40, 128]` bf16 with block 4x8x8: four frames of all heads,
/// 157 MB; of heads 0-3, 16 MB and a span).
enum StreamedPool {
    /// Bytes a slab reads at least when its blocks allow (a slab is never smaller than
    /// its blocks' rows).
    static let defaultSlabBytes = 16 << 20
    @TaskLocal static var slabBytes = defaultSlabBytes

    /// A run `rows` of stored tokens and the blocks lying in it.
    struct Slab {
        let rows: Range<Int>
        let blocks: [Int]
    }

    /// The 16-bit/32-bit float element the pool kernel reads, or `nil` for a tensor this
    /// pass cannot read (another dtype, byte order, or no seekable single run).
    static func element(of tensor: PlannedTensor, layout: QKLayout) -> TokenElement? {
        guard HeadRead.canRead(tensor, layout: layout), tensor.region?.isSeekable == true,
              tensor.byteOrder == .native else { return nil }
        switch tensor.dtype {
        case .float32: return .float32
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        default: return nil
        }
    }

    /// The slabs of `blocks` whose rows (block order) are stored at `gather`, each at
    /// least `minRows` rows when the blocks allow, partitioning `0..<tokens`; and the
    /// gather with each row made relative to its slab's first row.
    static func slabs(blocks: BlockGrid, gather: [Int32], tokens: Int, minRows: Int) -> (slabs: [Slab], relative: [Int32]) {
        let n = blocks.count
        var lo = [Int](repeating: .max, count: n), hi = [Int](repeating: 0, count: n)
        for b in 0..<n {
            let o = blocks.offset(ofBlock: b)
            for i in o..<(o + blocks.tokens(inBlock: b)) {
                let r = Int(gather[i])
                lo[b] = min(lo[b], r)
                hi[b] = max(hi[b], r + 1)
            }
        }
        let sorted = (0..<n).filter { hi[$0] > 0 }.sorted { lo[$0] < lo[$1] }
        // Components: blocks whose row ranges overlap, in row order.
        var components: [(start: Int, blocks: [Int])] = []
        var end = 0
        for b in sorted {
            if components.isEmpty || lo[b] >= end {
                components.append((lo[b], [b]))
            } else {
                components[components.count - 1].blocks.append(b)
            }
            end = max(end, hi[b])
        }
        var slabs: [Slab] = []
        var start = 0, members: [Int] = []
        for (i, c) in components.enumerated() {
            members += c.blocks
            let next = i + 1 < components.count ? components[i + 1].start : tokens
            if next - start >= minRows || i + 1 == components.count {
                slabs.append(Slab(rows: start..<next, blocks: members))
                start = next
                members = []
            }
        }
        if slabs.isEmpty { slabs = [Slab(rows: 0..<tokens, blocks: [])] }
        var relative = gather
        for slab in slabs {
            for b in slab.blocks {
                let o = blocks.offset(ofBlock: b)
                for i in o..<(o + blocks.tokens(inBlock: b)) { relative[i] -= Int32(slab.rows.lowerBound) }
            }
        }
        return (slabs, relative)
    }

    /// One read: heads `group` (indices into the picked heads) of tensor `tensor` (0 Q,
    /// 1 K), slab `slab`, bytes `bytes` of the tensor's data.
    struct Item {
        let tensor: Int
        let group: Range<Int>
        let slab: Int
        let bytes: Range<Int>
    }

    /// Pools heads `picked` of `q` and `k` (same layout) over `blocks`; `nil` when a read
    /// value is not finite (the caller then loads the input the ordinary way, which names
    /// the first bad value) or a tensor cannot be read this way (`element(of:layout:)`).
    /// - Throws: read errors; `.cancelled` when `progress` said to stop.
    /// - Complexity: O(selected heads' bytes) read, O(heads * S * D) pooled, all cores.
    /// `report` and `isCancelled` are as `InputSpec.load`'s (the total: the bytes this pass reads).
    static func pool(q: PlannedTensor, k: PlannedTensor, layout: QKLayout, heads picked: [Int], blocks: BlockGrid,
                     report: ReadProgress.Report?, isCancelled: (@Sendable () -> Bool)?) throws -> PooledBlocks? {
        guard let element = Self.element(of: q, layout: layout), Self.element(of: k, layout: layout) == element,
              q.dtype == k.dtype, case .seekable(let qSource, let qOffset)? = q.region,
              case .seekable(let kSource, let kOffset)? = k.region else { return nil }
        let s = layout.grid.tokens, d = layout.headDim, size = element.size, n = blocks.count
        let ts = layout.uniformTokenStride ?? d
        let storedRows = try layout.order.storedRows(for: layout.grid)
        let gather = blocks.blockOrderPermutation().map { storedRows[Int($0)] }
        let headMajor = picked.count == 1 || layout.headStride >= s * max(ts, 1)
        let groups: [Range<Int>] = headMajor ? picked.indices.map { $0..<($0 + 1) } : [0..<picked.count]
        // Bytes a slab holds per token row (the selected heads' `D` values).
        let heldRowBytes = (headMajor ? 1 : picked.count) * d * size
        let (slabs, relative) = slabs(blocks: blocks, gather: gather, tokens: s, minRows: max(1, slabBytes / heldRowBytes))
        var items: [Item] = []
        for t in 0..<2 {
            for g in groups {
                for (i, slab) in slabs.enumerated() {
                    let first = picked[g.lowerBound], last = picked[g.upperBound - 1]
                    let lo = layout.offset(head: first, token: slab.rows.lowerBound) * size
                    let hi = (layout.offset(head: last, token: slab.rows.upperBound - 1) + d) * size
                    items.append(Item(tensor: t, group: g, slab: i, bytes: lo..<hi))
                }
            }
        }
        let progress = ReadProgress(bytesTotal: items.reduce(0) { $0 + $1.bytes.count }, report: report, isCancelled: isCancelled)
        let kernels = KernelVariant.current.table
        let code: Int32 = element == .float32 ? 0 : element == .float16 ? 1 : 2
        let stride = ts * size, rowBytes = d * size
        // Heads that fill their token rows (one head of `[heads, S, D]`, all heads of
        // `[S, heads, D]`) are pooled where they are read; others (some heads of
        // interleaved rows) are read a span of rows at a time and their `D` values copied
        // compact, `[group, rows, D]`, so memory follows the heads asked for.
        func compactBytes(_ item: Item) -> Int { item.group.count * slabs[item.slab].rows.count * rowBytes }
        func isCompact(_ item: Item) -> Bool { compactBytes(item) < item.bytes.count }
        let chunkRows = max(1, HeadRead.spanBytes / max(stride, 1))
        let headSpan = (layout.offset(head: picked.last!, token: 0) - layout.offset(head: picked[0], token: 0) + d) * size
        let largestDirect = items.filter { !isCompact($0) }.map(\.bytes.count).max() ?? 0
        let largestCompact = items.filter(isCompact).map(compactBytes).max() ?? 0
        let largestChunk = largestCompact > 0 ? (chunkRows - 1) * stride + headSpan : 0
        var qa = [Double](repeating: 0, count: picked.count * n * d), ka = qa
        let failure = FirstError()
        let bad = Flag()
        let queue = WorkQueue()
        qa.withUnsafeMutableBufferPointer { qOut in ka.withUnsafeMutableBufferPointer { kOut in
            let outs = [UncheckedSendable(qOut.baseAddress!), UncheckedSendable(kOut.baseAddress!)]
            relative.withUnsafeBufferPointer { rel in
                Parallel.forEach(min(items.count, ProcessInfo.processInfo.activeProcessorCount)) { _ in
                    // One buffer of each kind per worker, made when first needed and reused.
                    var direct: UnsafeMutableRawPointer?, compact: UnsafeMutableRawPointer?, chunk: UnsafeMutableRawPointer?
                    defer { [direct, compact, chunk].forEach { $0?.deallocate() } }
                    while !failure.isSet, !bad.isSet, let index = queue.next(below: items.count) {
                        let item = items[index]
                        let (source, offset, name) = item.tensor == 0 ? (qSource, qOffset, q.name) : (kSource, kOffset, k.name)
                        do {
                            if progress.shouldStop { throw ReadProgress.cancelled(name) }
                            let slab = slabs[item.slab]
                            let first = picked[item.group.lowerBound], rows = slab.rows.count
                            /// Where head `i`'s rows of the slab are, and their stride.
                            let place: (Int) -> (UnsafeRawPointer, Int)
                            if isCompact(item) {
                                let out = compact ?? UnsafeMutableRawPointer.allocate(byteCount: largestCompact, alignment: 64)
                                let span = chunk ?? UnsafeMutableRawPointer.allocate(byteCount: largestChunk, alignment: 64)
                                (compact, chunk) = (out, span)
                                for r0 in Swift.stride(from: 0, to: rows, by: chunkRows) {
                                    let r1 = min(rows, r0 + chunkRows)
                                    let lo = layout.offset(head: first, token: slab.rows.lowerBound + r0) * size
                                    let hi = lo + (r1 - 1 - r0) * stride + headSpan
                                    try source.read((offset + lo)..<(offset + hi), into: span)
                                    for i in item.group {
                                        let from = layout.offset(head: picked[i], token: slab.rows.lowerBound + r0) * size - lo
                                        let to = out + ((i - item.group.lowerBound) * rows + r0) * rowBytes
                                        for r in 0..<(r1 - r0) {
                                            (to + r * rowBytes).copyMemory(from: span + from + r * stride, byteCount: rowBytes)
                                        }
                                    }
                                }
                                place = { i in (UnsafeRawPointer(out) + (i - item.group.lowerBound) * rows * rowBytes, rowBytes) }
                            } else {
                                let buffer = direct ?? UnsafeMutableRawPointer.allocate(byteCount: largestDirect, alignment: 64)
                                direct = buffer
                                try source.read((offset + item.bytes.lowerBound)..<(offset + item.bytes.upperBound), into: buffer)
                                place = { i in
                                    (UnsafeRawPointer(buffer) + layout.offset(head: picked[i], token: slab.rows.lowerBound) * size - item.bytes.lowerBound, stride)
                                }
                            }
                            for i in item.group {
                                let (base, rowStride) = place(i)
                                guard allFinite(base, element: element, stride: rowStride, rows: rows, d: d) else {
                                    bad.set()
                                    break
                                }
                                for b in slab.blocks {
                                    let count = blocks.tokens(inBlock: b)
                                    kernels.pointee.pool_rows(base, code, rowStride, rel.baseAddress! + blocks.offset(ofBlock: b), Int32(count),
                                                              Int32(d), Double(count), outs[item.tensor].value + (i * n + b) * d)
                                }
                            }
                            if !progress.advance(item.bytes.count, of: name) { throw ReadProgress.cancelled(name) }
                        } catch {
                            failure.record(error)
                        }
                    }
                }
            }
        } }
        if let error = failure.error { throw error }
        if bad.isSet { return nil }
        return PooledBlocks(blocks: blocks, heads: picked.count, headDim: d, qa: qa, ka: ka)
    }

    /// Whether `rows` rows of `d` elements at `base`, `stride` bytes apart, are all finite:
    /// the exponent bits of no element are all ones.
    static func allFinite(_ base: UnsafeRawPointer, element: TokenElement, stride: Int, rows: Int, d: Int) -> Bool {
        switch element {
        case .float32: return allFinite(base, mask: UInt32(0x7F80_0000), stride: stride, rows: rows, d: d)
        case .float16: return allFinite(base, mask: UInt16(0x7C00), stride: stride, rows: rows, d: d)
        case .bfloat16: return allFinite(base, mask: UInt16(0x7F80), stride: stride, rows: rows, d: d)
        }
    }

    /// Whether no element (`UInt16` for float16/bfloat16, `UInt32` for float32) has all of
    /// `mask`'s bits (the exponent: NaN or infinite) set: the lane-wise largest `x & mask`
    /// over all rows, 16 lanes at a time, is below `mask`.
    private static func allFinite<W: FixedWidthInteger & SIMDScalar>(_ base: UnsafeRawPointer, mask: W, stride: Int,
                                                                     rows: Int, d: Int) -> Bool {
        let m = SIMD16<W>(repeating: mask), size = MemoryLayout<W>.size
        var top = SIMD16<W>(), tail: W = 0
        let whole = d / 16 * 16
        for r in 0..<rows {
            let row = base + r * stride
            for j in Swift.stride(from: 0, to: whole, by: 16) {
                top = pointwiseMax(top, row.loadUnaligned(fromByteOffset: size * j, as: SIMD16<W>.self) & m)
            }
            for j in whole..<d { tail = max(tail, row.loadUnaligned(fromByteOffset: size * j, as: W.self) & mask) }
        }
        return !any(top .== m) && tail != mask
    }
}

/// A flag any worker may raise.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    var isSet: Bool { lock.withLock { raised } }
    func set() { lock.withLock { raised = true } }
}
