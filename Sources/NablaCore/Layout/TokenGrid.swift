import Foundation

/// The token grid of a video latent after patch embedding: `t` frames of `h x w` tokens.
///
/// Tokens in *raster order* are numbered `(t * h + y) * w + x`.
public struct TokenGrid: Hashable, Sendable, CustomStringConvertible {
    public var t: Int
    public var h: Int
    public var w: Int

    public init(t: Int, h: Int, w: Int) {
        precondition(t > 0 && h > 0 && w > 0, "grid dimensions must be positive")
        self.t = t
        self.h = h
        self.w = w
    }

    /// `S = t * h * w`.
    public var tokens: Int { t * h * w }

    /// `"TxHxW"`, the notation every command accepts.
    public var description: String { "\(t)x\(h)x\(w)" }

    /// Parses `"TxHxW"` (positive integers).
    /// - Throws: `NablaError.badGrid` naming `what` and the text.
    public init(parsing text: String, what: String = "grid") throws {
        let v = try parseTriple(text, what: what, example: "21x40x80")
        self.init(t: v.0, h: v.1, w: v.2)
    }
}

/// A block of `bt x bh x bw` tokens: `bt` frames, `bh` rows, `bw` columns.
/// NABLA's own block is `1x8x8` (64 tokens, one 8x8 spatial tile of one frame).
public struct BlockShape: Hashable, Sendable, CustomStringConvertible {
    public var bt: Int
    public var bh: Int
    public var bw: Int

    public init(bt: Int, bh: Int, bw: Int) {
        precondition(bt > 0 && bh > 0 && bw > 0, "block dimensions must be positive")
        self.bt = bt
        self.bh = bh
        self.bw = bw
    }

    /// NABLA's default block, `1x8x8`.
    public static let nabla = BlockShape(bt: 1, bh: 8, bw: 8)

    /// The shapes the terminal app cycles through, in order.
    public static let standard: [BlockShape] = [
        BlockShape(bt: 1, bh: 4, bw: 4), .nabla, BlockShape(bt: 1, bh: 16, bw: 16),
        BlockShape(bt: 2, bh: 8, bw: 8), BlockShape(bt: 4, bh: 4, bw: 4),
    ]

    /// The standard shapes that divide `grid`; when none does, the largest `1 x BH x BW`
    /// with `BH` and `BW` at most 8 that does (so there is always one to suggest).
    public static func dividing(_ grid: TokenGrid) -> [BlockShape] {
        let standard = BlockShape.standard.filter { $0.divides(grid) }
        if !standard.isEmpty { return standard }
        func largestDivisor(_ n: Int) -> Int { (1...min(8, n)).last { n % $0 == 0 } ?? 1 }
        return [BlockShape(bt: 1, bh: largestDivisor(grid.h), bw: largestDivisor(grid.w))]
    }

    /// Tokens per block, `bt * bh * bw`.
    public var tokens: Int { bt * bh * bw }

    public var description: String { "\(bt)x\(bh)x\(bw)" }

    /// Parses `"BTxBHxBW"` (positive integers).
    /// - Throws: `NablaError.badGrid` naming `what` and the text.
    public init(parsing text: String, what: String = "block") throws {
        let v = try parseTriple(text, what: what)
        self.init(bt: v.0, bh: v.1, bw: v.2)
    }

    /// Whether `grid` divides into whole blocks of this shape.
    public func divides(_ grid: TokenGrid) -> Bool {
        grid.t % bt == 0 && grid.h % bh == 0 && grid.w % bw == 0
    }
}

/// An STA window in blocks: block pairs with `|dt| <= wt/2`, `|di| <= wh/2`,
/// `|dj| <= ww/2` (integer division) are kept.
public struct STAWindow: Hashable, Sendable, CustomStringConvertible {
    public var wt: Int
    public var wh: Int
    public var ww: Int

    public init(wt: Int, wh: Int, ww: Int) {
        precondition(wt > 0 && wh > 0 && ww > 0, "window dimensions must be positive")
        self.wt = wt
        self.wh = wh
        self.ww = ww
    }

    /// Kandinsky 5's window, used with every threshold there.
    public static let kandinsky = STAWindow(wt: 11, wh: 3, ww: 3)

    public var description: String { "\(wt)x\(wh)x\(ww)" }

    /// Parses `"WTxWHxWW"` (positive odd integers). The window is centred on the query
    /// block (`|d| <= w/2`, NABLA.md step 4), so an even size `w` keeps exactly what
    /// `w + 1` keeps; it is refused rather than silently rounded (issue 20, item 4).
    /// - Throws: `NablaError.badGrid` naming the text and, for an even size, the axis.
    public init(parsing text: String, what: String = "STA window") throws {
        let v = try parseTriple(text, what: what, example: "11x3x3")
        for (size, axis) in [(v.0, "frames"), (v.1, "height"), (v.2, "width")] where size % 2 == 0 {
            throw NablaError(.badGrid, "\(what) '\(text)' has an even size \(size) in \(axis); a centred window's sizes are odd (\(size - 1) or \(size + 1))")
        }
        self.init(wt: v.0, wh: v.1, ww: v.2)
    }

    /// The axes of `blocks` this window is larger than (it reaches past both ends from
    /// every block, `w/2 > n - 1`: every block pair of the axis is in, as with any larger
    /// window), as words: `frames`, `frames and height`, `frames, height and width`; `nil`
    /// when it is larger than none. Said when a window is set (a 3-wide window on 2 blocks
    /// is its natural size and is not).
    public func coveredAxesText(of blocks: BlockGrid) -> String? {
        let axes = coveredAxisList(blocks)
        guard let last = axes.last else { return nil }
        return axes.count == 1 ? last : axes.dropLast().joined(separator: ", ") + " and " + last
    }

    private func coveredAxisList(_ blocks: BlockGrid) -> [String] {
        var axes: [String] = []
        if wt / 2 > blocks.tb - 1 { axes.append("frames") }
        if wh / 2 > blocks.hb - 1 { axes.append("height") }
        if ww / 2 > blocks.wb - 1 { axes.append("width") }
        return axes
    }
}

/// Parses `"AxBxC"` into three positive integers.
func parseTriple(_ text: String, what: String, example: String = "1x8x8") throws -> (Int, Int, Int) {
    let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
    let values = parts.map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard values.count == 3, let a = values[0], let b = values[1], let c = values[2] else {
        throw NablaError(.badGrid, "\(what) '\(text)' is not of the form AxBxC (three positive integers, e.g. \(example))")
    }
    guard a > 0, b > 0, c > 0 else {
        throw NablaError(.badGrid, "\(what) '\(text)' has a dimension below 1")
    }
    guard a <= 1 << 20, b <= 1 << 20, c <= 1 << 20 else {
        throw NablaError(.badGrid, "\(what) '\(text)' has a dimension above 1048576")
    }
    return (a, b, c)
}
