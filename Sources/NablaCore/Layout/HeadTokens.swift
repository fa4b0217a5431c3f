/// Owned, 64-byte aligned storage for `Float`s that views can point into.
public final class FloatStorage: @unchecked Sendable {
    public let buffer: UnsafeMutableBufferPointer<Float>

    /// Zero-initialised storage for `count` floats.
    public init(count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        let p = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        buffer = UnsafeMutableBufferPointer(start: p, count: count)
    }

    /// Storage holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        _ = buffer.initialize(from: values)
    }

    deinit { UnsafeMutableRawPointer(buffer.baseAddress!).deallocate() }
}

/// How the elements of a `HeadTokens` view are stored.
public enum TokenElement: Sendable, Equatable {
    case float32
    /// IEEE binary16, native byte order.
    case float16
    /// bfloat16 (the top half of a float32), native byte order.
    case bfloat16

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 2 }
}

/// Per-head token vectors, `[heads, S, D]`, with the head dimension contiguous; in
/// `Float`, or (for the mask engine only) float16/bfloat16 read in place.
///
/// A view: `row(h, s)` points at `D` consecutive floats at
/// `base + h * headStride + s * tokenStride`. A view of 16-bit elements
/// (`element != .float32`, made by `QKInput.from(..., halfInPlace: true)`) has no `Float`
/// rows: read it with `rawRow(h, s)`; only pooling and the finite check do. The strides let nabla read a float32 file
/// in place (memory-mapped) whether it is laid out `[heads, S, D]` or `[S, heads, D]`;
/// `owner` keeps the memory alive. Tokens are in the stored order, which `QKInput.order`
/// describes.
public struct HeadTokens: @unchecked Sendable {
    public let heads: Int
    public let tokens: Int
    public let headDim: Int
    /// Elements between heads.
    public let headStride: Int
    /// Elements between consecutive tokens of one head.
    public let tokenStride: Int
    public let base: UnsafePointer<Float>
    public let owner: AnyObject?
    /// The storage of the elements; `.float32` unless made with `init(raw:element:...)`.
    public let element: TokenElement

    public init(base: UnsafePointer<Float>, heads: Int, tokens: Int, headDim: Int,
                headStride: Int, tokenStride: Int, owner: AnyObject?) {
        self.base = base
        self.heads = heads
        self.tokens = tokens
        self.headDim = headDim
        self.headStride = headStride
        self.tokenStride = tokenStride
        self.owner = owner
        self.element = .float32
    }

    /// A view of 16-bit elements at `raw` (strides in elements, as for `Float`).
    public init(raw: UnsafeRawPointer, element: TokenElement, heads: Int, tokens: Int, headDim: Int,
                headStride: Int, tokenStride: Int, owner: AnyObject?) {
        base = raw.assumingMemoryBound(to: Float.self)
        self.heads = heads
        self.tokens = tokens
        self.headDim = headDim
        self.headStride = headStride
        self.tokenStride = tokenStride
        self.owner = owner
        self.element = element
    }

    /// The first byte of token `s` (stored order) of head `h`, for any `element`.
    @inlinable @inline(__always)
    public func rawRow(_ h: Int, _ s: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(base) + (h &* headStride &+ s &* tokenStride) &* element.size
    }

    /// A dense `[heads, tokens, headDim]` view of `storage`.
    public init(storage: FloatStorage, heads: Int, tokens: Int, headDim: Int) {
        precondition(storage.buffer.count == heads * tokens * headDim, "storage size does not match [heads, S, D]")
        self.init(base: UnsafePointer(storage.buffer.baseAddress!), heads: heads, tokens: tokens, headDim: headDim,
                  headStride: tokens * headDim, tokenStride: headDim, owner: storage)
    }

    /// A dense copy of `values` laid out `[heads, tokens, headDim]`.
    public init(_ values: [Float], heads: Int, tokens: Int, headDim: Int) {
        self.init(storage: FloatStorage(values), heads: heads, tokens: tokens, headDim: headDim)
    }

    /// The `D` floats of token `s` (stored order) of head `h`.
    @inlinable @inline(__always)
    public func row(_ h: Int, _ s: Int) -> UnsafePointer<Float> {
        base + (h &* headStride &+ s &* tokenStride)
    }

    /// Whether the two views have the same `[heads, S, D]`.
    public func sameShape(as other: HeadTokens) -> Bool {
        heads == other.heads && tokens == other.tokens && headDim == other.headDim
    }

    /// The tokens of all heads copied into a dense `[heads, S, D]` array (stored order).
    public func denseArray() -> [Float] {
        precondition(element == .float32, "denseArray reads Float rows")
        var out = [Float]()
        out.reserveCapacity(heads * tokens * headDim)
        for h in 0..<heads {
            for s in 0..<tokens {
                out.append(contentsOf: UnsafeBufferPointer(start: row(h, s), count: headDim))
            }
        }
        return out
    }
}
