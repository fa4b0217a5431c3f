/// How the tokens of a stored `[.., S, D]` tensor are ordered, as a user states it.
public enum OrderOption: String, Sendable, CaseIterable {
    case raster, block
}

/// What a user (or a file's metadata) says about the layout of Q/K tensors.
public struct LayoutOptions: Sendable, Equatable {
    /// The token grid, needed for layouts with a flat sequence axis `s`.
    public var grid: TokenGrid?
    /// The token order of a flat sequence axis.
    public var order: OrderOption?
    /// The block shape whose block order the tokens are stored in (`order == .block`).
    public var orderBlock: BlockShape
    /// Axis letters naming every dimension, e.g. `"s h d"` or `"b s h d"`.
    public var axes: String?
    /// Which batch item to take when the batch axis is larger than 1.
    public var batch: Int?
    /// Where `grid` came from: the caller, or a file's `__metadata__`.
    public var gridSource: SettingSource = .caller
    /// Where `order` (and `orderBlock` for a block order) came from.
    public var orderSource: SettingSource = .caller
    /// Joint text tokens in the flat sequence axis (`--text-tokens`, or `text_tokens` /
    /// `text_place` in `__metadata__`); `nil` for a video-only sequence.
    public var text: TextTokens?

    public init(grid: TokenGrid? = nil, order: OrderOption? = nil, orderBlock: BlockShape = .nabla,
                axes: String? = nil, batch: Int? = nil) {
        self.grid = grid
        self.order = order
        self.orderBlock = orderBlock
        self.axes = axes
        self.batch = batch
    }
}

/// Where each element of one batch item of a Q/K tensor sits in the file's C-order
/// element array, for a layout nabla accepts.
///
/// Accepted without options: `[heads, T, H, W, D]` and `[B, heads, T, H, W, D]` (raster
/// order, the grid from the shape); `[heads, S, D]`, `[S, heads, D]`, `[B, heads, S, D]`
/// and `[B, S, heads, D]` (diffusers' layout) with a grid, whose token count names the
/// sequence axis, and an order. A batch larger than 1 needs `batch`. `axes` names any
/// other layout with the letters `b h s t y x d`.
public struct QKLayout: Sendable, Equatable {
    public let heads: Int
    public let headDim: Int
    public let grid: TokenGrid
    /// The order of stored token index `s` (always `.raster` for `t y x` layouts).
    public let order: TokenOrder
    /// The axis letters, one per dimension, as resolved.
    public let axes: [Character]
    /// Element offset of the selected batch item.
    public let baseOffset: Int
    public let headStride: Int
    /// Element strides of stored token index `s = (t * H + y) * W + x` decomposed over the grid.
    public let tStride: Int
    public let yStride: Int
    public let xStride: Int
    public let dStride: Int
    /// The joint text tokens of the sequence axis (`nil` or count 0: none); the video
    /// tokens `offset(head:token:)` addresses are the sequence positions after (text at
    /// the start) or before (text at the end) them.
    public internal(set) var text: TextTokens? = nil
    /// Element offset of text token 0 of head 0 (the selected batch item), when `text`.
    public internal(set) var textBase: Int = 0

    /// The accepted layouts, for error messages.
    public static let acceptedShapes: Wording =
        "[heads, T, H, W, D], [B, heads, T, H, W, D], [heads, S, D], [S, heads, D], [B, heads, S, D] or [B, S, heads, D] (with \(wanted: .grid), whose token count finds the sequence axis, and \(wanted: .order)), or a layout named by \(wanted: .axes) (letters b h s t y x d)"

    /// Element offset of stored token `s` of head `h` (first element of its `D` values).
    @inlinable public func offset(head h: Int, token s: Int) -> Int {
        let x = s % grid.w
        let y = (s / grid.w) % grid.h
        let t = s / (grid.w * grid.h)
        return baseOffset + h * headStride + t * tStride + y * yStride + x * xStride
    }

    /// The stride between consecutive stored tokens when it is uniform, else `nil`.
    public var uniformTokenStride: Int? {
        (tStride == grid.h * yStride || grid.t == 1) && (yStride == grid.w * xStride || grid.h == 1) ? xStride : nil
    }

    /// Resolves the layout of a tensor of `shape` named `name`.
    /// - Throws: `NablaError.badShape` or `.badGrid` naming the tensor, its shape and what
    ///   is accepted or missing.
    public init(shape: [Int], name: String, options: LayoutOptions) throws {
        let shapeText = NablaCore.shapeText(shape)
        let textCount = options.text?.count ?? 0
        let letters = try QKLayout.axisLetters(shape: shape, name: name, axes: options.axes, grid: options.grid,
                                               textTokens: textCount)
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        func size(_ c: Character) -> Int? { letters.firstIndex(of: c).map { shape[$0] } }
        func strideOf(_ c: Character) -> Int { letters.firstIndex(of: c).map { strides[$0] } ?? 0 }

        guard let headDim = size("d"), headDim > 0 else {
            throw NablaError(.badShape, "\(name): shape \(shapeText) has no head dimension of size >= 1")
        }
        let heads = size("h") ?? 1
        guard heads > 0 else { throw NablaError(.badShape, "\(name): shape \(shapeText) has 0 heads") }

        var base = 0
        if let batch = size("b") {
            let index = options.batch ?? (batch == 1 ? 0 : -1)
            guard index >= 0 else {
                throw NablaError(.badShape, "\(name): shape \(shapeText) has a batch of \(batch); choose one item with \(wanted: .batch, "I") (0...\(batch - 1))")
            }
            guard index < batch else {
                throw NablaError(.badArgument, "\(name): \(setting: .batch, String(index)) is out of range for a batch of \(batch)")
            }
            base = index * strideOf("b")
        } else if let b = options.batch, b != 0 {
            throw NablaError(.badArgument, "\(name): \(setting: .batch, String(b)) given but the layout has no batch axis")
        }

        let grid: TokenGrid
        let order: TokenOrder
        if let s = size("s") {
            guard let g = options.grid else {
                let hint = heads > s ? " (if it is [B, S, heads, D] as diffusers stores Q/K, the grid alone reads it as \(heads) tokens of \(s) heads)" : ""
                throw NablaError(.badGrid, "\(name): shape \(shapeText) has a flat sequence of \(s) tokens; give the grid with \(wanted: .grid, "TxHxW")\(hint)")
            }
            if let text = options.text, text.count > 0 {
                guard text.count < s, g.tokens + text.count == s else {
                    throw NablaError(.badGrid, "\(name): text tokens \(text) and \(setting: .grid, g.description, from: options.gridSource) make \(text.count + g.tokens) tokens but the sequence axis of \(shapeText) has \(s)\(text.count >= s ? " (the text alone fills it, no video tokens left)" : "")")
                }
            }
            guard g.tokens + textCount == s else {
                throw NablaError(.badGrid, "\(name): \(setting: .grid, g.description, from: options.gridSource) has \(g.tokens) tokens but no axis of \(shapeText) has that many (the sequence axis, as read, has \(s)); a layout naming the axes may read it: \(wording: QKLayout.candidateText(shape))")
            }
            // Without --order or metadata, raster: what diffusers' video transformers emit
            // after patchify (`flatten(2)` over t, h, w). A block ("fractal") order is only
            // nabla's own samples' or what a file's metadata says.
            let o = options.order ?? .raster
            grid = g
            if o == .block {
                guard options.orderBlock.divides(g) else {
                    throw NablaError(.badGrid, "\(name): grid \(g) is not divisible by block \(options.orderBlock) (needed for \(setting: .order, "block", from: options.orderSource)); blocks that divide it: \(BlockShape.dividing(g).map(\.description).joined(separator: ", "))")
                }
                order = .block(options.orderBlock)
            } else {
                order = .raster
            }
            let ss = strideOf("s")
            if let text = options.text, text.count > 0 {
                self.text = text
                textBase = base + text.textStart(video: g.tokens) * ss
                base += text.videoStart * ss
            }
            tStride = g.h * g.w * ss
            yStride = g.w * ss
            xStride = ss
        } else {
            guard let t = size("t"), let y = size("y"), let x = size("x") else {
                throw NablaError(.badShape, "\(name): the axes \(String(letters)) name neither a sequence axis s nor all of t y x")
            }
            guard t > 0, y > 0, x > 0 else {
                throw NablaError(.badShape, "\(name): shape \(shapeText) has an empty grid dimension")
            }
            grid = TokenGrid(t: t, h: y, w: x)
            if let g = options.grid, g != grid {
                throw NablaError(.badGrid, "\(name): \(setting: .grid, g.description, from: options.gridSource) disagrees with the grid \(grid) of shape \(shapeText)")
            }
            if options.order == .block {
                throw NablaError(.badArgument, "\(name): \(setting: .order, "block", from: options.orderSource) needs a flat sequence axis; shape \(shapeText) is laid out over t y x")
            }
            order = .raster
            if let text = options.text, text.count > 0 {
                throw NablaError(.badArgument, "\(name): text tokens \(text) need a flat sequence axis; shape \(shapeText) is laid out over t y x")
            }
            tStride = strideOf("t")
            yStride = strideOf("y")
            xStride = strideOf("x")
        }
        self.heads = heads
        self.headDim = headDim
        self.grid = grid
        self.order = order
        self.axes = letters
        self.baseOffset = base
        self.headStride = strideOf("h")
        self.dStride = strideOf("d")
    }

    /// The axis letters of a tensor of `shape`: from `axes` when given, else by rank
    /// (`h t y x d`, `b h t y x d`, `h s d`, `b h s d`). With a `grid`, a rank-3 or rank-4
    /// tensor's sequence axis is the one holding `grid.tokens` tokens, so diffusers'
    /// `[B, S, heads, D]` (`query.unflatten(2, (attn.heads, -1))` in its attention
    /// processors) reads as `b s h d` and `[heads, S, D]` / `[S, heads, D]` likewise. A
    /// leading batch axis may have any size (`--batch` picks the item).
    /// - Throws: `NablaError.badShape` for a shape that fits no layout, or whose sequence
    ///   axis the grid cannot tell (both listing the `--axes` strings that would read it),
    ///   or `axes` of the wrong length; `.badArgument` for bad letters.
    public static func axisLetters(shape: [Int], name: String, axes: String?, grid: TokenGrid? = nil,
                                   textTokens: Int = 0) throws -> [Character] {
        if let axes {
            let letters = try QKLayout.parseAxes(axes)
            guard letters.count == shape.count else {
                throw NablaError(.badShape, "\(name): \(setting: .axes, "'\(axes)'") names \(letters.count) dimensions but the shape \(shapeText(shape)) has \(shape.count)")
            }
            return letters
        }
        switch shape.count {
        case 5: return Array("htyxd")
        case 6: return Array("bhtyxd")
        case 3, 4:
            let lead = shape.count == 4 ? "b" : ""
            let first = shape.count - 3
            if let grid {
                let s = grid.tokens + textTokens
                let fits = [shape[first] == s, shape[first + 1] == s]
                switch (fits[0], fits[1]) {
                case (true, false): return Array(lead + "shd")
                case (false, true): return Array(lead + "hsd")
                case (true, true):
                    throw NablaError(.badShape, "\(name): shape \(shapeText(shape)) has two axes of \(grid.tokens) tokens (the grid \(grid)); say which is the sequence with \(wording: candidateText(shape))")
                case (false, false):
                    // With text tokens, the axis that can hold the grid names the sequence
                    // (the layout below reports the count that does not add up).
                    let room = [shape[first] >= grid.tokens, shape[first + 1] >= grid.tokens]
                    if textTokens > 0, room[0] != room[1] { return Array(lead + (room[0] ? "shd" : "hsd")) }
                }
            }
            return Array(lead + "hsd")
        default:
            let candidates = candidateText(shape)
            throw NablaError(.badShape, "\(name): shape \(shapeText(shape)) fits none of the accepted layouts: \(wording: QKLayout.acceptedShapes)\(wording: candidates.parts.isEmpty ? "" : "; it would read as \(wording: candidates)")")
        }
    }

    /// Common Q/K layouts, as `--axes` strings: nabla's own, diffusers' `[B, S, heads, D]`,
    /// sequence-first dumps and grid-shaped ones with heads before or after the grid.
    static let commonAxes = ["h s d", "s h d", "b h s d", "b s h d", "h t y x d", "t y x h d",
                             "b h t y x d", "b t y x h d"]

    /// The `--axes` strings of `commonAxes` with as many letters as `shape` has
    /// dimensions, each with what it would make of the shape: `--axes 'b s h d' (batch 2,
    /// 7680 tokens, 8 heads, head dim 64)`, joined with "or".
    static func candidateText(_ shape: [Int]) -> Wording {
        var seen = Set<String>()
        let names: [Character: String] = ["b": "batch", "h": "heads", "s": "tokens", "t": "frames", "y": "rows", "x": "columns", "d": "head dim"]
        var parts: [Wording.Part] = []
        for axes in commonAxes where axes.split(separator: " ").count == shape.count && seen.insert(axes).inserted {
            let letters = axes.split(separator: " ").map { Character(String($0)) }
            let meaning = zip(letters, shape).map { letter, size -> String in
                switch letter {
                case "b": "batch \(size)"
                case "d": "head dim \(size)"
                default: "\(size) \(names[letter]!)"
                }
            }
            let reading: Wording = "\(wanted: .axes, "'\(axes)'") (\(meaning.joined(separator: ", ")))"
            if !parts.isEmpty { parts.append(.text(" or ")) }
            parts += reading.parts
        }
        return Wording(parts: parts)
    }

    /// Splits `"b s h d"`, `"bshd"` or `"b,s,h,d"` into letters, each of `b h s t y x d` at most once.
    /// - Throws: `NablaError.badArgument` naming the bad letter or the repeat.
    public static func parseAxes(_ text: String) throws -> [Character] {
        let letters = try parseAxisLetters(text, allowed: "bhstyxd", kind: "axis")
        let seen = Set(letters)
        if seen.contains("s") && (seen.contains("t") || seen.contains("y") || seen.contains("x")) {
            throw NablaError(.badArgument, "\(setting: .axes, "'\(text)'"): use either s or t y x, not both")
        }
        return Array(letters)
    }
}

/// Splits `"b s h d"`, `"bshd"` or `"b,s,h,d"` into letters, each one of `allowed` and
/// at most once.
/// - Throws: `NablaError.badArgument` naming the text and the bad letter or the repeat.
func parseAxisLetters(_ text: String, allowed: String, kind: String) throws -> [Character] {
    let letters = text.lowercased().filter { !$0.isWhitespace && $0 != "," }
    var seen = Set<Character>()
    for c in letters {
        guard allowed.contains(c) else {
            let list = allowed.map(String.init).joined(separator: " ")
            throw NablaError(.badArgument, "\(setting: .axes, "'\(text)'"): unknown \(kind) letter '\(c)' (use \(list))")
        }
        guard seen.insert(c).inserted else {
            throw NablaError(.badArgument, "\(setting: .axes, "'\(text)'"): axis '\(c)' appears twice")
        }
    }
    return Array(letters)
}
