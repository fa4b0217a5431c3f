import Foundation

/// Reads some heads of one batch item of a Q/K/V tensor from its file, and nothing of the
/// other heads that can be skipped: the selected heads' bytes, kept in the file's dtype and
/// byte order (bfloat16 stays 2 bytes an element), laid out compact `[heads, S, D]` in
/// stored token order.
///
/// How the bytes are read depends on where the head axis lies:
/// - heads before the tokens (`[heads, S, D]`, `[B, heads, S, D]`, `[heads, T, H, W, D]`):
///   each selected head's slab is one run of the file, read straight into place in spans
///   of `spanBytes`;
/// - heads interleaved with the tokens (`[S, heads, D]`, diffusers' `[B, S, heads, D]`,
///   `[T, H, W, heads, D]`): spans of whole token rows are read, from the first selected
///   head to the last, and only the selected heads' `D` values of each token are kept.
///
/// Spans are read in parallel (`pread` at independent offsets) when the file can seek.
/// A deflated archive member cannot seek: it is inflated from its start, once, and the
/// spans kept as they pass (`TensorRegion.stream`). Memory: the selected heads' bytes
/// plus one span per worker; the tensor is never whole in memory, nor in `Float`.
public enum HeadRead {
    /// Bytes a span reads at most (unless one token row of the selected heads is larger).
    static let defaultSpanBytes = 4 << 20
    @TaskLocal static var spanBytes = defaultSpanBytes

    /// Whether heads of `tensor` under `layout` can be read alone: its bytes are one
    /// C-order run (`PlannedTensor.region`), the head dimension is contiguous and the
    /// tokens are evenly spaced.
    public static func canRead(_ tensor: PlannedTensor, layout: QKLayout) -> Bool {
        tensor.region != nil && layout.dStride == 1 && layout.uniformTokenStride != nil && tensor.count > 0
    }

    /// One span: the tensor's bytes `bytes`, holding tokens `tokens` of `picked[group]`.
    struct Span {
        let group: Range<Int>
        let tokens: Range<Int>
        let bytes: Range<Int>
    }

    /// The spans that read heads `picked` (ascending tensor indices) under `layout`, in
    /// increasing byte order (a stream is read in that order).
    static func spans(layout: QKLayout, heads picked: [Int], elementSize size: Int) -> [Span] {
        let s = layout.grid.tokens, d = layout.headDim
        let ts = layout.uniformTokenStride ?? d
        let headMajor = picked.count == 1 || layout.headStride >= s * max(ts, 1)
        let groups: [Range<Int>] = headMajor ? picked.indices.map { $0..<($0 + 1) } : [0..<picked.count]
        var spans: [Span] = []
        for g in groups {
            let first = picked[g.lowerBound], last = picked[g.upperBound - 1]
            let rowBytes = max(layout.offset(head: last, token: 0) - layout.offset(head: first, token: 0) + d, ts, 1) * size
            let perSpan = max(1, spanBytes / rowBytes)
            var t0 = 0
            while t0 < s {
                let t1 = min(s, t0 + perSpan)
                let lo = layout.offset(head: first, token: t0) * size
                let hi = (layout.offset(head: last, token: t1 - 1) + d) * size
                spans.append(Span(group: g, tokens: t0..<t1, bytes: lo..<hi))
                t0 = t1
            }
        }
        return spans
    }

    /// Bytes `read` takes from the file for heads `picked` of `tensor` under `layout`
    /// (for a deflated member: the bytes it inflates, its whole data).
    public static func bytesToRead(_ tensor: PlannedTensor, layout: QKLayout, heads picked: [Int]) -> Int {
        guard canRead(tensor, layout: layout) else { return tensor.bytesToRead }
        if tensor.region?.isSeekable == false { return tensor.bytesToRead }
        return spans(layout: layout, heads: picked, elementSize: tensor.dtype.size).reduce(0) { $0 + $1.bytes.count }
    }

    /// Heads `picked` (ascending tensor indices, each below `layout.heads`) of the batch
    /// item `layout` takes, as a compact `[picked.count, S, D]` tensor named as `tensor`,
    /// of its dtype and byte order (`QKLayout(compactHeads:of:)` reads it).
    /// - Precondition: `canRead(tensor, layout:)`.
    /// - Throws: `NablaError.fileUnreadable` when the file cannot be read or changed on
    ///   disk; an archive member's errors (bounds, CRC-32 of a deflated member);
    ///   `.cancelled` when `progress` said to stop.
    /// - Complexity: O(bytesToRead) read, O(picked * S * D) copied.
    public static func read(_ tensor: PlannedTensor, layout: QKLayout, heads picked: [Int],
                            progress: ReadProgress? = nil) throws -> RawTensor {
        precondition(canRead(tensor, layout: layout), "a tensor HeadRead can read")
        guard let region = tensor.region else { preconditionFailure("checked by canRead") }
        let size = tensor.dtype.size, s = layout.grid.tokens, d = layout.headDim
        let spans = spans(layout: layout, heads: picked, elementSize: size)
        let direct = (layout.uniformTokenStride ?? 0) == d
        let name = tensor.name
        let owned = try OwnedBytes(count: picked.count * s * d * size) { dst in
            let out = UncheckedSendable(dst.baseAddress!)
            /// Copies the rows of `span` from `bytes` (the span's bytes) into place.
            func place(_ span: Span, from bytes: UnsafeRawPointer) {
                for i in span.group {
                    for t in span.tokens {
                        let from = layout.offset(head: picked[i], token: t) * size - span.bytes.lowerBound
                        (out.value + (i * s + t) * d * size).copyMemory(from: bytes + from, byteCount: d * size)
                    }
                }
            }
            switch region {
            case .seekable(let source, let offset):
                let failure = FirstError()
                let queue = WorkQueue()
                let largest = spans.map(\.bytes.count).max() ?? 0
                // One worker per core, each with one scratch span reused (a scratch per
                // span would leave freed spans in malloc's per-thread arenas).
                Parallel.forEach(min(spans.count, ProcessInfo.processInfo.activeProcessorCount)) { _ in
                    var scratch: UnsafeMutableRawPointer?
                    defer { scratch?.deallocate() }
                    while !failure.isSet, let n = queue.next(below: spans.count) {
                        let span = spans[n]
                        let range = (offset + span.bytes.lowerBound)..<(offset + span.bytes.upperBound)
                        do {
                            if progress?.shouldStop == true { throw ReadProgress.cancelled(name) }
                            if direct && span.group.count == 1 {
                                try source.read(range, into: out.value + (span.group.lowerBound * s + span.tokens.lowerBound) * d * size)
                            } else {
                                let buffer = scratch ?? UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64)
                                scratch = buffer
                                try source.read(range, into: buffer)
                                place(span, from: buffer)
                            }
                            if let progress, !progress.advance(range.count, of: name) { throw ReadProgress.cancelled(name) }
                        } catch {
                            failure.record(error)
                        }
                    }
                }
                if let error = failure.error { throw error }
            case .stream(let inflate):
                try stream(spans, from: inflate, progress: progress, name: name, place: place)
            }
        }
        return RawTensor(name: name, dtype: tensor.dtype, shape: [picked.count, s, d], byteOrder: tensor.byteOrder,
                         fortranOrder: false, bytes: owned.bytes, owner: owned)
    }

    /// Reads `spans` (in increasing byte order) from a stream of the tensor's bytes,
    /// filling one span at a time and handing it to `place`; the stream is read to its
    /// end (its CRC-32 is checked there).
    private static func stream(_ spans: [Span], from inflate: (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void,
                               progress: ReadProgress?, name: String, place: (Span, UnsafeRawPointer) -> Void) throws {
        let largest = spans.map(\.bytes.count).max() ?? 0
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(largest, 1), alignment: 64)
        defer { scratch.deallocate() }
        var next = 0          // the span being filled
        var position = 0      // tensor byte of the chunk's first byte
        try withoutActuallyEscaping(place) { place in try inflate { chunk in
            if progress?.shouldStop == true { throw ReadProgress.cancelled(name) }
            let end = position + chunk.count
            while next < spans.count {
                let span = spans[next].bytes
                let lo = max(span.lowerBound, position), hi = min(span.upperBound, end)
                if lo < hi {
                    (scratch + (lo - span.lowerBound)).copyMemory(from: chunk.baseAddress! + (lo - position), byteCount: hi - lo)
                }
                guard span.upperBound <= end else { break }
                place(spans[next], scratch)
                next += 1
            }
            if let progress, !progress.advance(chunk.count, of: name) { throw ReadProgress.cancelled(name) }
            position = end
        } }
        guard next == spans.count else {
            throw NablaError(.malformedFile, "\(name): its member ends at byte \(position) of the tensor's data, before the heads asked for")
        }
    }
}

extension QKLayout {
    /// The layout of `heads` heads of `layout` stored compact `[heads, S, D]` (what
    /// `HeadRead.read` makes): the same grid, head dimension and token order.
    init(compactHeads heads: Int, of layout: QKLayout) {
        let d = layout.headDim, g = layout.grid
        self.heads = heads
        headDim = d
        grid = g
        order = layout.order
        axes = Array("hsd")
        baseOffset = 0
        headStride = g.tokens * d
        tStride = g.h * g.w * d
        yStride = g.w * d
        xStride = d
        dStride = 1
    }
}
