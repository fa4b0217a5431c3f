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
/// Accepted without options: `[heads, T, H, W, D]` and `[1, heads, T, H, W, D]` (raster
/// order, the grid from the shape); `[heads, S, D]` and `[1, heads, S, D]` with a grid
/// and an order. `axes` names any other layout with the letters `b h s t y x d`.
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

    /// The accepted layouts, for error messages.
    public static let acceptedShapes: Wording =
        "[heads, T, H, W, D], [1, heads, T, H, W, D], [heads, S, D] or [1, heads, S, D] (with \(wanted: .grid) and \(wanted: .order)), or a layout named by \(wanted: .axes) (letters b h s t y x d)"

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
        let letters = try QKLayout.axisLetters(shape: shape, name: name, axes: options.axes)
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
                throw NablaError(.badGrid, "\(name): shape \(shapeText) has a flat sequence of \(s) tokens; give the grid with \(wanted: .grid, "TxHxW")")
            }
            guard g.tokens == s else {
                throw NablaError(.badGrid, "\(name): \(setting: .grid, g.description, from: options.gridSource) has \(g.tokens) tokens but the sequence axis of \(shapeText) has \(s)")
            }
            guard let o = options.order else {
                throw NablaError(.badArgument, "\(name): shape \(shapeText) has a flat sequence; say its token order with \(wanted: .order, "raster|block")")
            }
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
    /// (`h t y x d`, `b h t y x d`, `h s d`, `b h s d`).
    /// - Throws: `NablaError.badShape` for a shape that fits no layout or `axes` of the
    ///   wrong length, `.badArgument` for bad letters.
    public static func axisLetters(shape: [Int], name: String, axes: String?) throws -> [Character] {
        if let axes {
            let letters = try QKLayout.parseAxes(axes)
            guard letters.count == shape.count else {
                throw NablaError(.badShape, "\(name): \(setting: .axes, "'\(axes)'") names \(letters.count) dimensions but the shape \(shapeText(shape)) has \(shape.count)")
            }
            return letters
        }
        switch shape.count {
        case 5: return Array("htyxd")
        case 6 where shape[0] == 1: return Array("bhtyxd")
        case 3: return Array("hsd")
        case 4 where shape[0] == 1: return Array("bhsd")
        default:
            throw NablaError(.badShape, "\(name): shape \(shapeText(shape)) fits none of the accepted layouts: \(wording: QKLayout.acceptedShapes)")
        }
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
