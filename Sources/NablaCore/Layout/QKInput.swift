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
    /// The tensor index (0-based) of each head: `0..<heads` unless a `HeadSelection`
    /// took a subset. Reports and the app name heads by these.
    public var headIndices: [Int]
    /// What to do when a block does not divide `grid` (`BlockGrid`): partial edge blocks
    /// (`.pad`, the default) or the grid floored to whole blocks (`.crop`).
    public var edge: EdgeMode = .pad
    /// The joint text tokens' Q and K (`TextQK`), when the sequence holds text besides
    /// the video tokens of `q` and `k`; `nil` for a video-only input.
    public var text: TextQK?

    public var heads: Int { q.heads }

    /// The block grid of `block` over this input's grid under its `edge` mode.
    /// - Throws: `NablaError.badGrid` (see `BlockGrid.init`).
    public func blockGrid(_ block: BlockShape) throws -> BlockGrid {
        try BlockGrid(grid: grid, block: block, edge: edge)
    }
    public var headDim: Int { q.headDim }

    public init(name: String, q: HeadTokens, k: HeadTokens, v: HeadTokens? = nil, grid: TokenGrid, order: TokenOrder,
                preview: VideoPreview? = nil, headIndices: [Int]? = nil) {
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
        self.headIndices = headIndices ?? Array(0..<q.heads)
        precondition(self.headIndices.count == q.heads, "one tensor index per head")
    }

    /// The input restricted to `selection` (tensor indices into this input's heads),
    /// copying the selected heads of Q, K and V.
    /// - Throws: `NablaError.badArgument` when an index is out of range.
    public func selecting(_ selection: HeadSelection) throws -> QKInput {
        try selection.validate(heads: heads, of: name)
        func pick(_ x: HeadTokens) -> HeadTokens {
            // Rows copied as stored: Float, or 16-bit elements kept 16-bit.
            let row = x.headDim * x.element.size
            let storage = OwnedBytes(count: selection.indices.count * x.tokens * row) { dst in
                var o = dst.baseAddress!
                for h in selection.indices {
                    for s in 0..<x.tokens {
                        o.copyMemory(from: x.rawRow(h, s), byteCount: row)
                        o += row
                    }
                }
            }
            return HeadTokens(raw: storage.bytes.baseAddress!, element: x.element, heads: selection.indices.count,
                              tokens: x.tokens, headDim: x.headDim, headStride: x.tokens * x.headDim,
                              tokenStride: x.headDim, owner: storage)
        }
        var picked = QKInput(name: name, q: pick(q), k: pick(k), v: v.map(pick), grid: grid, order: order, preview: preview,
                             headIndices: selection.indices.map { headIndices[$0] })
        picked.edge = edge
        picked.text = try text.map { try $0.selecting(selection) }
        return picked
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
    public static func layouts<T: TensorDescription>(q: T, k: T, v: T?,
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
    ///
    /// `heads` takes a subset of the heads (only those are converted or checked);
    /// `halfInPlace` keeps float16/bfloat16 Q and K in the file as 16-bit views (for the
    /// mask engine, which pools them directly, and attention, which widens each row as it
    /// packs it); V too with `halfValues`, else V is `Float`.
    /// - Throws: `.badArgument` for a head index out of range.
    public static func from(q: RawTensor, k: RawTensor, v: RawTensor?, layout: QKLayout, vLayout: QKLayout?,
                            name: String, heads: HeadSelection? = nil, halfInPlace: Bool = false,
                            halfValues: Bool = false) throws -> QKInput {
        try heads?.validate(heads: layout.heads, of: q.name)
        let picked = heads?.indices ?? Array(0..<layout.heads)
        let qt = try headTokens(q, layout: layout, heads: picked, halfInPlace: halfInPlace)
        let kt = try headTokens(k, layout: layout, heads: picked, halfInPlace: halfInPlace)
        let vt = try v.flatMap { v in try vLayout.map { try headTokens(v, layout: $0, heads: picked, halfInPlace: halfInPlace && halfValues) } }
        var input = QKInput(name: name, q: qt, k: kt, v: vt, grid: layout.grid, order: layout.order, headIndices: picked)
        input.text = try textQK(q: q, k: k, v: vt == nil ? nil : v, layout: layout, vLayout: vLayout, heads: picked)
        return input
    }

    /// A `[heads, S, D]` view of heads `picked` of one batch item of `raw` under `layout`,
    /// after the finite check: in place for float32 (and, with `halfInPlace`, float16 and
    /// bfloat16) in native byte order with a contiguous head dimension, when the picked
    /// heads are evenly spaced; otherwise the picked heads converted to `Float`, element
    /// by element, with no copy of the whole tensor.
    ///
    /// `origin` names a non-finite value by the tensor `raw` was read from when `raw` holds
    /// some of its heads compact (`HeadRead`): its shape, layout and the heads' indices.
    static func headTokens(_ raw: RawTensor, layout: QKLayout, heads picked: [Int], halfInPlace: Bool = false,
                           origin: (shape: [Int], layout: QKLayout, heads: [Int])? = nil) throws -> HeadTokens {
        let heads = picked.count, tokens = layout.grid.tokens, d = layout.headDim
        // Evenly spaced heads are a strided view: base at the first, stride the step.
        let step = heads > 1 ? picked[1] - picked[0] : 1
        let evenly = step > 0 && zip(picked, picked.dropFirst()).allSatisfy { $1 - $0 == step }
        let inPlaceElement: TokenElement? = switch raw.dtype {
        case .float32: raw.float32View == nil ? nil : .float32
        case .float16 where halfInPlace: .float16
        case .bfloat16 where halfInPlace: .bfloat16
        default: nil
        }
        let view: HeadTokens
        if let element = inPlaceElement, raw.byteOrder == .native, raw.isCOrder, evenly, layout.dStride == 1,
           let ts = layout.uniformTokenStride, let base = raw.bytes.baseAddress,
           Int(bitPattern: base) % element.size == 0 {
            let offset = layout.baseOffset + picked[0] * layout.headStride
            let hs = layout.headStride * step
            if element == .float32 {
                view = HeadTokens(base: base.assumingMemoryBound(to: Float.self) + offset, heads: heads, tokens: tokens,
                                  headDim: d, headStride: hs, tokenStride: ts, owner: raw.owner)
            } else {
                view = HeadTokens(raw: base + offset * element.size, element: element, heads: heads, tokens: tokens,
                                  headDim: d, headStride: hs, tokenStride: ts, owner: raw.owner)
            }
        } else if !raw.isCOrder {
            // Fortran order: convert once in logical order (rare: NumPy writes C order).
            let source = raw.floats()
            let storage = FloatStorage(count: heads * tokens * d)
            var o = 0
            for h in picked {
                for s in 0..<tokens {
                    let off = layout.offset(head: h, token: s)
                    for j in 0..<d {
                        storage.buffer[o] = source[off + j * layout.dStride]
                        o += 1
                    }
                }
            }
            view = HeadTokens(storage: storage, heads: heads, tokens: tokens, headDim: d)
        } else {
            let storage = FloatStorage(count: heads * tokens * d)
            let dst = UncheckedSendable(storage.buffer.baseAddress!)
            let items = heads * tokens
            // Each (head, token) row converted on its own: rows in parallel.
            let chunks = Parallel.chunks(items, minChunk: 256)
            Parallel.forEach(chunks.count) { c in
                for item in chunks[c] {
                    let h = item / tokens, s = item % tokens
                    let off = layout.offset(head: picked[h], token: s)
                    let out = dst.value + item * d
                    for j in 0..<d { out[j] = raw.floatValue(atStorageIndex: off + j * layout.dStride) }
                }
            }
            view = HeadTokens(storage: storage, heads: heads, tokens: tokens, headDim: d)
        }
        if let (h, s, j) = firstNonFinite(view) {
            let flat = layout.offset(head: picked[h], token: s) + j * layout.dStride
            let (shape, at, head) = origin.map { ($0.shape, $0.layout.offset(head: $0.heads[h], token: s) + j * $0.layout.dStride, $0.heads[h]) }
                ?? (raw.shape, flat, picked[h])
            let index = TensorIO.multiIndex(ofFlat: at, shape: shape).map(String.init).joined(separator: ", ")
            throw NablaError(.nonFinite, "\(raw.name): \(raw.nonFiniteDescription(atFlat: flat)) at [\(index)] (head \(head), token \(s), dim \(j)); Q, K and V must be finite")
        }
        return view
    }

    /// The first `(head, token, dim)` holding NaN or infinity, in storage order.
    /// - Complexity: O(heads * S * D), 16 lanes at a time: `x * 0` is 0 for finite `x`
    ///   and NaN otherwise, so one NaN test per row finds the rows worth scanning.
    static func firstNonFinite(_ t: HeadTokens) -> (Int, Int, Int)? {
        // Heads in parallel; the first head with a bad value decides.
        var found = [Int](repeating: -1, count: t.heads * 2)
        found.withUnsafeMutableBufferPointer { f in
            Parallel.forEach(t.heads) { h in
                let hit = t.element == .float32 ? firstNonFiniteFloat(t, head: h) : firstNonFiniteHalf(t, head: h)
                if let (s, j) = hit {
                    f[2 * h] = s
                    f[2 * h + 1] = j
                }
            }
        }
        for h in 0..<t.heads where found[2 * h] >= 0 { return (h, found[2 * h], found[2 * h + 1]) }
        return nil
    }

    /// The first `(token, dim)` of head `h` holding NaN or infinity (`Float` rows).
    static func firstNonFiniteFloat(_ t: HeadTokens, head h: Int) -> (Int, Int)? {
        typealias V = SIMD16<Float>
        let d = t.headDim
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
                for j in 0..<d where !r[j].isFinite { return (s, j) }
            }
        }
        return nil
    }
}

/// A picture of the video on the token grid, for drawing beside the maps: grey levels,
/// and the colours where the video's are known (the built-in sample).
public struct VideoPreview: Sendable, Equatable {
    public let grid: TokenGrid
    /// `[T, H, W]` in raster order, values in `[0, 1]`.
    public let luminance: [Float]
    /// `[T, H, W, 3]` RGB in `[0, 1]`, or `nil` when only grey levels are known.
    public let rgb: [Float]?

    public init(grid: TokenGrid, luminance: [Float], rgb: [Float]? = nil) {
        precondition(luminance.count == grid.tokens, "preview must have one value per token")
        precondition(rgb == nil || rgb!.count == grid.tokens * 3, "a colour preview has three values per token")
        self.grid = grid
        self.luminance = luminance
        self.rgb = rgb
    }

    /// The colour at frame `t`, row `y`, column `x`, or `nil` without colours.
    public func color(t: Int, y: Int, x: Int) -> (r: Float, g: Float, b: Float)? {
        guard let rgb else { return nil }
        let i = ((t * grid.h + y) * grid.w + x) * 3
        return (rgb[i], rgb[i + 1], rgb[i + 2])
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

extension QKInput {
    /// `firstNonFinite` for 16-bit views: an element is NaN or infinite exactly when its
    /// exponent bits are all ones (binary16: `0x7C00`; bfloat16: `0x7F80`).
    static func firstNonFiniteHalf(_ t: HeadTokens, head h: Int) -> (Int, Int)? {
        typealias V = SIMD16<UInt16>
        let mask: UInt16 = t.element == .float16 ? 0x7C00 : 0x7F80
        let d = t.headDim
        let vmask = V(repeating: mask)
        for s in 0..<t.tokens {
            let r = t.rawRow(h, s)
            var found = false
            var j = 0
            while j + 16 <= d {
                let x = r.loadUnaligned(fromByteOffset: j * 2, as: V.self)
                found = found || Swift.any((x & vmask) .== vmask)
                j += 16
            }
            while j < d {
                found = found || (r.loadUnaligned(fromByteOffset: j * 2, as: UInt16.self) & mask) == mask
                j += 1
            }
            if found {
                for j in 0..<d where (r.loadUnaligned(fromByteOffset: j * 2, as: UInt16.self) & mask) == mask {
                    return (s, j)
                }
            }
        }
        return nil
    }
}
