/// The input of the mask engine: per-head queries and keys (and optionally values) on a
/// token grid, with the order their tokens are stored in.
public struct QKInput: Sendable {
    /// How the input is named on screen and in summaries (`sample`, `q.npy`, ...).
    public var name: String
    public var q: HeadTokens
    public var k: HeadTokens
    public var v: HeadTokens?
    public var grid: TokenGrid
    /// The order of the stored tokens of `q`, `k` and `v`.
    public var order: TokenOrder
    /// What the video looks like at token resolution, when nabla knows it (latents and
    /// the built-in sample); `nil` for Q/K read from files.
    public var preview: VideoPreview?

    public var heads: Int { q.heads }
    public var headDim: Int { q.headDim }

    public init(name: String, q: HeadTokens, k: HeadTokens, v: HeadTokens? = nil, grid: TokenGrid, order: TokenOrder,
                preview: VideoPreview? = nil) {
        precondition(q.sameShape(as: k), "Q and K must have the same [heads, S, D]")
        precondition(q.tokens == grid.tokens, "token count must match the grid")
        if let v { precondition(v.heads == q.heads && v.tokens == q.tokens, "V must match Q in heads and tokens") }
        self.name = name
        self.q = q
        self.k = k
        self.v = v
        self.grid = grid
        self.order = order
        if let preview { precondition(preview.grid == grid, "the preview must be on the input's grid") }
        self.preview = preview
    }

    /// Builds the input from tensors read from files, checking that Q and K agree in
    /// shape, that the layout is one nabla accepts and that every value is finite.
    ///
    /// float32 tensors in native byte order whose layout has a contiguous head dimension
    /// are used in place (no copy of a memory-mapped file); others are converted once.
    /// - Throws: `NablaError` (`.badShape`, `.badGrid`, `.badArgument`, `.nonFinite`)
    ///   naming the tensor.
    public static func from(q: RawTensor, k: RawTensor, v: RawTensor? = nil,
                            options: LayoutOptions, name: String) throws -> QKInput {
        let (layout, vLayout) = try layouts(q: q, k: k, v: v, options: options)
        return try from(q: q, k: k, v: v, layout: layout, vLayout: vLayout, name: name)
    }

    /// The layouts of Q/K and of V, after checking that Q and K agree in shape and that
    /// V matches them in heads, grid and order.
    /// - Throws: `NablaError.badShape` or the layout's own errors, naming the tensor.
    public static func layouts(q: RawTensor, k: RawTensor, v: RawTensor?,
                               options: LayoutOptions) throws -> (qk: QKLayout, v: QKLayout?) {
        try q.requireFloatingPoint(as: "Q")
        try k.requireFloatingPoint(as: "K")
        try v?.requireFloatingPoint(as: "V")
        guard q.shape == k.shape else {
            throw NablaError(.badShape, "Q and K disagree in shape: \(q.name) is \(shapeText(q.shape)), \(k.name) is \(shapeText(k.shape))")
        }
        let layout = try QKLayout(shape: q.shape, name: q.name, options: options)
        guard let v else { return (layout, nil) }
        let vl = try QKLayout(shape: v.shape, name: v.name, options: options)
        guard vl.heads == layout.heads, vl.grid == layout.grid, vl.order == layout.order else {
            throw NablaError(.badShape, "\(v.name): V of shape \(shapeText(v.shape)) does not match Q's \(layout.heads) heads on grid \(layout.grid)")
        }
        return (layout, vl)
    }

    /// Builds the input from tensors whose layouts `layouts(q:k:v:options:)` resolved.
    /// - Throws: `NablaError.nonFinite` naming the tensor and the first bad index.
    public static func from(q: RawTensor, k: RawTensor, v: RawTensor?, layout: QKLayout, vLayout: QKLayout?,
                            name: String) throws -> QKInput {
        let qt = try headTokens(q, layout: layout)
        let kt = try headTokens(k, layout: layout)
        let vt = try v.flatMap { v in try vLayout.map { try headTokens(v, layout: $0) } }
        return QKInput(name: name, q: qt, k: kt, v: vt, grid: layout.grid, order: layout.order)
    }

    /// A `[heads, S, D]` view of one batch item of `raw` under `layout`, after the finite check.
    static func headTokens(_ raw: RawTensor, layout: QKLayout) throws -> HeadTokens {
        let heads = layout.heads, tokens = layout.grid.tokens, d = layout.headDim
        let view: HeadTokens
        if let f32 = raw.float32View, layout.dStride == 1, let ts = layout.uniformTokenStride, let base = f32.baseAddress {
            view = HeadTokens(base: base + layout.baseOffset, heads: heads, tokens: tokens, headDim: d,
                              headStride: layout.headStride, tokenStride: ts, owner: raw.owner)
        } else {
            let source = raw.float32View.map(Array.init) ?? raw.floats()
            let storage = FloatStorage(count: heads * tokens * d)
            let dst = storage.buffer.baseAddress!
            source.withUnsafeBufferPointer { src in
                var o = 0
                for h in 0..<heads {
                    for s in 0..<tokens {
                        let off = layout.offset(head: h, token: s)
                        for j in 0..<d {
                            dst[o] = src[off + j * layout.dStride]
                            o += 1
                        }
                    }
                }
            }
            view = HeadTokens(storage: storage, heads: heads, tokens: tokens, headDim: d)
        }
        if let (h, s, j) = firstNonFinite(view) {
            let flat = layout.offset(head: h, token: s) + j * layout.dStride
            let index = raw.multiIndex(ofFlat: flat).map(String.init).joined(separator: ", ")
            throw NablaError(.nonFinite, "\(raw.name): \(raw.nonFiniteDescription(atFlat: flat)) at [\(index)] (head \(h), token \(s), dim \(j)); Q, K and V must be finite")
        }
        return view
    }

    /// The first `(head, token, dim)` holding NaN or infinity, in storage order.
    /// - Complexity: O(heads * S * D), 16 lanes at a time: `x * 0` is 0 for finite `x`
    ///   and NaN otherwise, so one NaN test per row finds the rows worth scanning.
    static func firstNonFinite(_ t: HeadTokens) -> (Int, Int, Int)? {
        typealias V = SIMD16<Float>
        let d = t.headDim
        for h in 0..<t.heads {
            for s in 0..<t.tokens {
                let r = t.row(h, s)
                var acc = V()
                var j = 0
                while j + 16 <= d {
                    acc += UnsafeRawPointer(r + j).loadUnaligned(as: V.self) * 0
                    j += 16
                }
                var tail: Float = 0
                while j < d {
                    tail += r[j] * 0
                    j += 1
                }
                if tail.isNaN || acc.sum().isNaN {
                    for j in 0..<d where !r[j].isFinite { return (h, s, j) }
                }
            }
        }
        return nil
    }
}

/// A grey-level picture of the video on the token grid, for drawing beside the maps.
public struct VideoPreview: Sendable, Equatable {
    public let grid: TokenGrid
    /// `[T, H, W]` in raster order, values in `[0, 1]`.
    public let luminance: [Float]

    public init(grid: TokenGrid, luminance: [Float]) {
        precondition(luminance.count == grid.tokens, "preview must have one value per token")
        self.grid = grid
        self.luminance = luminance
    }

    /// The value at frame `t`, row `y`, column `x`.
    public func value(t: Int, y: Int, x: Int) -> Float {
        luminance[(t * grid.h + y) * grid.w + x]
    }
}

/// `[2, 3]`, shortened past 8 dimensions (see `TensorIO.shapeText`).
func shapeText(_ shape: [Int]) -> String {
    TensorIO.shapeText(shape)
}
