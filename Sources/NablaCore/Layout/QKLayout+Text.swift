extension QKLayout {
    /// The layout of the text tokens of a joint sequence (`text`): `Nt` tokens on a
    /// `1 x 1 x Nt` grid in sequence order, starting at `textBase`; `nil` without text.
    public var textLayout: QKLayout? {
        guard let text, text.count > 0 else { return nil }
        return QKLayout(textOf: self, count: text.count)
    }

    private init(textOf layout: QKLayout, count: Int) {
        heads = layout.heads
        headDim = layout.headDim
        grid = TokenGrid(t: 1, h: 1, w: count)
        order = .raster
        axes = layout.axes
        baseOffset = layout.textBase
        headStride = layout.headStride
        // One frame of one row: only the token stride matters.
        xStride = layout.xStride
        yStride = count * layout.xStride
        tStride = count * layout.xStride
        dStride = layout.dStride
    }
}

/// The text tokens' Q and K (and V, when the input has V) of a joint sequence,
/// `[heads, Nt, D]` each in sequence order, beside the video tokens' `QKInput.q` /
/// `QKInput.k` / `QKInput.v` (which hold the video tokens only).
public struct TextQK: Sendable {
    public let tokens: TextTokens
    public let q: HeadTokens
    public let k: HeadTokens
    /// `[heads, Nt, Dv]`, or `nil` when the input has no V.
    public let v: HeadTokens?

    public init(tokens: TextTokens, q: HeadTokens, k: HeadTokens, v: HeadTokens? = nil) {
        precondition(q.sameShape(as: k) && q.tokens == tokens.count, "text Q and K must be [heads, Nt, D]")
        if let v { precondition(v.heads == q.heads && v.tokens == q.tokens, "text V must match text Q in heads and tokens") }
        self.tokens = tokens
        self.q = q
        self.k = k
        self.v = v
    }
}

extension TextQK {
    /// The text Q/K of heads `selection` (indices into these heads), copied as Float.
    /// - Throws: `.badArgument` for an index out of range.
    func selecting(_ selection: HeadSelection) throws -> TextQK {
        try selection.validate(heads: q.heads, of: "text tokens")
        func pick(_ x: HeadTokens) -> HeadTokens {
            var values: [Float] = []
            values.reserveCapacity(selection.indices.count * x.tokens * x.headDim)
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(x.headDim, 1))
            defer { row.deallocate() }
            for h in selection.indices {
                for s in 0..<x.tokens {
                    x.copyRow(h, s, into: row)
                    values.append(contentsOf: UnsafeBufferPointer(start: row, count: x.headDim))
                }
            }
            return HeadTokens(values, heads: selection.indices.count, tokens: x.tokens, headDim: x.headDim)
        }
        return TextQK(tokens: tokens, q: pick(q), k: pick(k), v: v.map(pick))
    }
}

extension QKInput {
    /// The text tokens' Q and K (and V of `v` under `vLayout`, when given) of heads
    /// `picked` under `layout`, as Float, after the finite check; `nil` when the layout has
    /// no text tokens.
    /// - Throws: `.nonFinite` naming the tensor and the index.
    static func textQK(q: RawTensor, k: RawTensor, v: RawTensor? = nil, layout: QKLayout, vLayout: QKLayout? = nil,
                       heads picked: [Int]) throws -> TextQK? {
        guard let text = layout.text, let tl = layout.textLayout else { return nil }
        let tv = try v.flatMap { v in try vLayout?.textLayout.map { try headTokens(v, layout: $0, heads: picked) } }
        return TextQK(tokens: text, q: try headTokens(q, layout: tl, heads: picked),
                      k: try headTokens(k, layout: tl, heads: picked), v: tv)
    }
}

extension InputSpec {
    /// Refuses text tokens given for a source that has no flat Q/K sequence (the built-in
    /// sample, a latent): they would be accepted and ignored.
    /// - Throws: `NablaError.badArgument` naming the option and the input.
    func refuseText(for resolved: Source) throws {
        guard let text = layout.text, text.count > 0 else { return }
        switch resolved {
        case .sample:
            throw NablaError(.badArgument, "--text-tokens \(text) applies to Q/K files with a joint text-video sequence; the built-in sample has no text tokens")
        case .latent(let src):
            throw NablaError(.badArgument, "--text-tokens \(text) applies to Q/K files with a joint text-video sequence; \(src.path) is a latent")
        default:
            return
        }
    }
}
