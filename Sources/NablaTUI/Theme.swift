import Foundation

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

    /// The level `0..<levels` of `t` in `[0, 1]` on a ramp of `levels` equal steps:
    /// `floor(t * levels)`, with `t = 1` on the top level. Every ramp quantises this way.
    static func level(_ t: Double, of levels: Int) -> UInt8 {
        UInt8(min(Double(levels - 1), max(0, (t * Double(levels)).rounded(.down))))
    }

    /// The kept ramp's level `0..<rampLevels` of `t` in `[0, 1]`.
    public static func rampLevel(_ t: Double) -> UInt8 { level(t, of: rampLevels) }
    static func droppedLevel(_ t: Double) -> UInt8 { level(t, of: droppedLevels) }
    static func greyLevel(_ t: Double) -> UInt8 { level(t, of: greyLevels) }

    static func keptRGB(_ level: UInt8) -> RGB { viridis((Double(level) + 0.5) / Double(rampLevels)) }
    static func droppedRGB(_ level: UInt8) -> RGB {
        let v = UInt8(26 + Int(level) * 72 / (droppedLevels - 1))
        return RGB(v, v, v &+ 6)
    }
    static func greyRGB(_ level: UInt8) -> RGB {
        let v = UInt8(Int(level) * 255 / (greyLevels - 1))
        return RGB(v, v, v)
    }
}
