import Foundation

/// How many colours the display uses.
public enum ColorMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 24-bit colour: ncurses reports at least 2^24 colours (a direct-colour terminfo).
    case truecolor
    /// The xterm 256-colour palette.
    case palette256
    /// The 16 ANSI colours (8 plus bold on terminals with 8).
    case ansi16
    /// No colour: shade characters and attributes carry everything.
    case mono

    public var description: String { rawValue }

    /// The mode for a terminal whose ncurses reports `colors` (`0` when it has none),
    /// with the `NO_COLOR` environment value and the `--no-color` flag. `NO_COLOR` counts
    /// only when set to a non-empty value (no-color.org).
    public static func select(colors: Int, noColorEnv: String?, noColorFlag: Bool) -> ColorMode {
        if noColorFlag || !(noColorEnv ?? "").isEmpty || colors < 8 { return .mono }
        if colors >= 1 << 24 { return .truecolor }
        if colors >= 256 { return .palette256 }
        return .ansi16
    }

    public var hasColor: Bool { self != .mono }
}

/// What a cell's colour means; the theme turns it into a terminal colour for the mode.
public enum ColorRole: Hashable, Sendable {
    /// The terminal's own foreground or background.
    case normal
    case muted
    case accent
    case title
    case error
    /// The selected block on the map.
    case cursor
    /// The query block's outline on the video preview.
    case outline
    case statusBar
    /// Dark text on bright backgrounds.
    case ink
    /// A kept block (or a pooled cell holding kept blocks): level `0..<Theme.rampLevels`
    /// of the perceptual ramp.
    case kept(UInt8)
    /// A dropped block: level `0..<Theme.droppedLevels` of a dim grey ramp.
    case dropped(UInt8)
    /// Video preview grey, level `0..<Theme.greyLevels`, dark to light.
    case grey(UInt8)
}

/// A colour as the terminal takes it.
public enum TerminalColor: Hashable, Sendable {
    /// The terminal's default foreground or background (ncurses colour -1).
    case terminalDefault
    /// A palette index: 0-15 ANSI, 16-255 the xterm cube and greys.
    case indexed(Int)
    /// A 24-bit colour for direct-colour terminals.
    case rgb(RGB)

    /// For a terminal with only 8 colours: the index to use and whether to add bold
    /// (the classic way to get the bright half of the 16 ANSI colours).
    public func forEightColors() -> (color: TerminalColor, bold: Bool) {
        if case .indexed(let i) = self, i >= 8, i < 16 { return (.indexed(i - 8), true) }
        return (self, false)
    }
}

/// An sRGB colour.
public struct RGB: Hashable, Sendable, CustomStringConvertible {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    /// `0xRRGGBB`, the colour number of a direct-colour terminal.
    public var packed: Int { Int(r) << 16 | Int(g) << 8 | Int(b) }

    /// WCAG relative luminance in `[0, 1]` (linearised sRGB, Rec. 709 weights).
    public var luminance: Double {
        func lin(_ c: UInt8) -> Double {
            let s = Double(c) / 255
            return s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    }

    func distanceSquared(_ o: RGB) -> Int {
        let dr = Int(r) - Int(o.r), dg = Int(g) - Int(o.g), db = Int(b) - Int(o.b)
        // Weighted towards green, as the eye is (a cheap stand-in for a perceptual space).
        return 2 * dr * dr + 4 * dg * dg + 3 * db * db
    }

    static func mix(_ a: RGB, _ b: RGB, _ t: Double) -> RGB {
        func m(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + (Double(y) - Double(x)) * t).rounded()) }
        return RGB(m(a.r, b.r), m(a.g, b.g), m(a.b, b.b))
    }

    public var description: String { "#" + String(packed, radix: 16).leftPadded(to: 6, with: "0") }
}

/// Attributes of a cell.
public struct CellAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = CellAttributes(rawValue: 1)
    public static let dim = CellAttributes(rawValue: 2)
    public static let reverse = CellAttributes(rawValue: 4)
    public static let underline = CellAttributes(rawValue: 8)
}

/// Foreground, background and attributes.
public struct Style: Hashable, Sendable {
    public var foreground: ColorRole
    public var background: ColorRole
    public var attributes: CellAttributes

    public init(_ foreground: ColorRole = .normal, _ background: ColorRole = .normal, _ attributes: CellAttributes = []) {
        self.foreground = foreground
        self.background = background
        self.attributes = attributes
    }

    public static let plain = Style()
}

/// The colour mode and the glyph set the screen is drawn with, and the mapping of
/// colour roles to terminal colours.
///
/// The block map's ramp is viridis (matplotlib's perceptual colour map, sampled at its
/// published tenths and interpolated in sRGB): dark purple for improbable blocks to
/// yellow for probable ones, with luminance rising monotonically. Dropped blocks use a
/// dim grey ramp instead, so kept and dropped stay apart in every colour mode.
public struct Theme: Sendable, Equatable {
    public var mode: ColorMode
    public var glyphs: Glyphs

    public init(mode: ColorMode, glyphs: Glyphs) {
        self.mode = mode
        self.glyphs = glyphs
    }

    public static let rampLevels = 32
    public static let droppedLevels = 8
    public static let greyLevels = 16

    /// Whether the block map draws two pixels per cell with `▀` and colours (square
    /// pixels); otherwise one pixel per cell (colour backgrounds or shade characters).
    public var halfBlockPixels: Bool { glyphs.unicode && mode.hasColor }
    /// Pixel rows per character row on the block map and the preview.
    public var pixelRowsPerCell: Int { halfBlockPixels ? 2 : 1 }
    /// Character cells across per pixel: 2 when a pixel is a whole cell, so that pixels
    /// stay about square on cells twice as tall as wide.
    public var cellsPerPixel: Int { halfBlockPixels ? 1 : 2 }

    /// The terminal colour of `role` in this mode (`.terminalDefault` in monochrome).
    public func color(_ role: ColorRole) -> TerminalColor {
        switch mode {
        case .mono: return .terminalDefault
        case .truecolor: return Theme.rgb(role).map(TerminalColor.rgb) ?? .terminalDefault
        case .palette256: return Theme.index256(role).map(TerminalColor.indexed) ?? .terminalDefault
        case .ansi16: return Theme.index16(role).map(TerminalColor.indexed) ?? .terminalDefault
        }
    }

    /// The status line: a dark bar in 256 and 24-bit colour, reverse video otherwise.
    var statusStyle: Style {
        switch mode {
        case .truecolor, .palette256: Style(.normal, .statusBar)
        case .ansi16, .mono: Style(.normal, .normal, .reverse)
        }
    }

    // MARK: - Ramps

    /// Viridis at 0, 0.1, ..., 1.
    static let viridisStops: [RGB] = [
        RGB(0x44, 0x01, 0x54), RGB(0x48, 0x24, 0x75), RGB(0x41, 0x44, 0x87), RGB(0x35, 0x5F, 0x8D),
        RGB(0x2A, 0x78, 0x8E), RGB(0x21, 0x91, 0x8C), RGB(0x22, 0xA8, 0x84), RGB(0x44, 0xBF, 0x70),
        RGB(0x7A, 0xD1, 0x51), RGB(0xBD, 0xDF, 0x26), RGB(0xFD, 0xE7, 0x25),
    ]

    /// Viridis at `t` in `[0, 1]`.
    public static func viridis(_ t: Double) -> RGB {
        let x = min(max(t, 0), 1) * Double(viridisStops.count - 1)
        let i = min(Int(x), viridisStops.count - 2)
        return RGB.mix(viridisStops[i], viridisStops[i + 1], x - Double(i))
    }

    /// The ramp level `0..<rampLevels` of `t` in `[0, 1]`.
    public static func rampLevel(_ t: Double) -> UInt8 {
        UInt8(min(Double(rampLevels - 1), max(0, (t * Double(rampLevels)).rounded(.down))))
    }

    static func droppedLevel(_ t: Double) -> UInt8 {
        UInt8(min(Double(droppedLevels - 1), max(0, (t * Double(droppedLevels)).rounded(.down))))
    }

    static func greyLevel(_ t: Double) -> UInt8 {
        UInt8(min(Double(greyLevels - 1), max(0, (t * Double(greyLevels)).rounded(.down))))
    }

    static func keptRGB(_ level: UInt8) -> RGB { viridis((Double(level) + 0.5) / Double(rampLevels)) }
    static func droppedRGB(_ level: UInt8) -> RGB {
        let v = UInt8(26 + Int(level) * 72 / (droppedLevels - 1))
        return RGB(v, v, v &+ 6)
    }
    static func greyRGB(_ level: UInt8) -> RGB {
        let v = UInt8(Int(level) * 255 / (greyLevels - 1))
        return RGB(v, v, v)
    }

    // MARK: - Palettes

    static func rgb(_ role: ColorRole) -> RGB? {
        switch role {
        case .normal: nil
        case .muted: RGB(138, 138, 138)
        case .accent: RGB(95, 215, 255)
        case .title: RGB(238, 238, 238)
        case .error: RGB(255, 95, 95)
        case .cursor: RGB(255, 64, 255)
        case .outline: RGB(255, 64, 64)
        case .statusBar: RGB(48, 48, 58)
        case .ink: RGB(16, 16, 16)
        case .kept(let l): keptRGB(l)
        case .dropped(let l): droppedRGB(l)
        case .grey(let l): greyRGB(l)
        }
    }

    /// The xterm 256-colour palette as sRGB (16-231 the 6x6x6 cube, 232-255 greys);
    /// 0-15 take xterm's defaults.
    public static let xterm256: [RGB] = {
        var p = ansi16RGB
        let steps: [UInt8] = [0, 95, 135, 175, 215, 255]
        for r in steps { for g in steps { for b in steps { p.append(RGB(r, g, b)) } } }
        for i in 0..<24 {
            let v = UInt8(8 + 10 * i)
            p.append(RGB(v, v, v))
        }
        return p
    }()

    /// xterm's default 16 ANSI colours, for choosing and checking 16-colour ramps.
    public static let ansi16RGB: [RGB] = [
        RGB(0, 0, 0), RGB(205, 0, 0), RGB(0, 205, 0), RGB(205, 205, 0),
        RGB(0, 0, 238), RGB(205, 0, 205), RGB(0, 205, 205), RGB(229, 229, 229),
        RGB(127, 127, 127), RGB(255, 0, 0), RGB(0, 255, 0), RGB(255, 255, 0),
        RGB(92, 92, 255), RGB(255, 0, 255), RGB(0, 255, 255), RGB(255, 255, 255),
    ]

    /// The kept ramp in the 256 palette: for each level the nearest colour of the cube
    /// (greys are left to dropped blocks) whose luminance is not below the previous level's, so the ramp stays monotone.
    static let kept256: [Int] = monotoneNearest((0..<rampLevels).map { keptRGB(UInt8($0)) }, candidates: Array(16..<232))
    static let dropped256: [Int] = monotoneNearest((0..<droppedLevels).map { droppedRGB(UInt8($0)) }, candidates: Array(232..<256))
    static let grey256: [Int] = monotoneNearest((0..<greyLevels).map { greyRGB(UInt8($0)) }, candidates: [16] + Array(232..<256) + [231])

    static func monotoneNearest(_ colors: [RGB], candidates: [Int]) -> [Int] {
        var out: [Int] = []
        var floor = -1.0
        for c in colors {
            let allowed = candidates.filter { xterm256[$0].luminance >= floor }
            let pool = allowed.isEmpty ? candidates : allowed
            let best = pool.min { xterm256[$0].distanceSquared(c) < xterm256[$1].distanceSquared(c) }!
            out.append(best)
            floor = max(floor, xterm256[best].luminance)
        }
        return out
    }

    /// The 16-colour stand-in for viridis, by rising luminance: blue, bright blue, cyan,
    /// bright green, bright yellow.
    static let kept16: [Int] = [4, 12, 6, 10, 11]
    /// Dropped blocks in 16 colours: black, then bright black for the more probable.
    static let dropped16: [Int] = [0, 8]
    static let grey16: [Int] = [0, 8, 7, 15]

    static func index256(_ role: ColorRole) -> Int? {
        switch role {
        case .normal: nil
        case .muted: 245
        case .accent: 81
        case .title: 255
        case .error: 203
        case .cursor: 207
        case .outline: 196
        case .statusBar: 236
        case .ink: 16
        case .kept(let l): kept256[Int(l)]
        case .dropped(let l): dropped256[Int(l)]
        case .grey(let l): grey256[Int(l)]
        }
    }

    static func index16(_ role: ColorRole) -> Int? {
        switch role {
        case .normal: nil
        case .muted: 8
        case .accent: 14
        case .title: 15
        case .error: 9
        case .cursor: 13
        case .outline: 9
        case .statusBar: nil
        case .ink: 0
        case .kept(let l): kept16[Int(l) * kept16.count / rampLevels]
        case .dropped(let l): dropped16[Int(l) * dropped16.count / droppedLevels]
        case .grey(let l): grey16[Int(l) * grey16.count / greyLevels]
        }
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = " ") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }

    func rightPadded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
