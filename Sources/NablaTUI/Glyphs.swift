/// The characters the screen is drawn with: Unicode block and box drawing, or plain
/// ASCII for terminals whose locale is not UTF-8.
public struct Glyphs: Sendable, Equatable {
    /// Whether the set draws with Unicode (half blocks, shades, box drawing).
    public let unicode: Bool
    /// Upper half block: foreground is the top pixel, background the bottom one.
    let upperHalf: Character
    /// A full cell of foreground colour (legend swatches).
    let full: Character
    /// Monochrome shades of a kept block by probability, low to high.
    let keptShades: [Character]
    /// Monochrome shades of a dropped block by probability, low to high.
    let droppedShades: [Character]
    /// Monochrome shades of the share of kept blocks in a pooled cell, 0 (none) to 1.
    let shareShades: [Character]
    /// Grey levels of the video preview, dark to light.
    let greyShades: [Character]
    /// Eighths of a cell for horizontal bars, 1/8 ... 8/8.
    let barEighths: [Character]
    let spinner: [Character]
    let horizontal: Character
    let vertical: Character
    let topLeft: Character, topRight: Character, bottomLeft: Character, bottomRight: Character
    /// Frame boundary marks on the top ruler and on the left gutter.
    let tickDown: Character, tickLeft: Character
    /// Cursor marks on the rulers.
    let markDown: Character, markRight: Character
    /// The cursor pixel in monochrome drawings.
    let cursorPixel: Character
    let ellipsis: Character
    let separator: String

    public static let unicodeSet = Glyphs(
        unicode: true, upperHalf: "▀", full: "█",
        keptShades: ["▒", "▓", "█"], droppedShades: [" ", "░"],
        shareShades: [" ", "░", "▒", "▓", "█"], greyShades: [" ", "░", "▒", "▓", "█"],
        barEighths: ["▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"],
        spinner: ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"],
        horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘",
        tickDown: "┬", tickLeft: "┤", markDown: "▼", markRight: "▶", cursorPixel: "◆", ellipsis: "…",
        separator: " │ ")

    public static let asciiSet = Glyphs(
        unicode: false, upperHalf: " ", full: " ",
        keptShades: ["+", "%", "#"], droppedShades: [" ", "."],
        shareShades: [" ", ".", "+", "%", "#"], greyShades: [" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"],
        barEighths: ["#", "#", "#", "#", "#", "#", "#", "#"],
        spinner: ["|", "/", "-", "\\"],
        horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+",
        tickDown: "+", tickLeft: "+", markDown: "v", markRight: ">", cursorPixel: "@", ellipsis: "~",
        separator: " | ")

    public static func forLocale(utf8: Bool) -> Glyphs { utf8 ? unicodeSet : asciiSet }

    /// The ASCII stand-in for a character the renderer writes, for the ASCII set: box
    /// drawing and punctuation map to look-alikes, anything else non-ASCII to `?`.
    static func ascii(_ c: Character) -> Character {
        if c.isASCII { return c }
        switch c {
        case "─", "━", "—", "–", "−", "▔", "▁": return "-"
        case "│", "┃", "▏", "▕": return "|"
        case "┌", "┐", "└", "┘", "├", "┤", "┬", "┴", "┼": return "+"
        case "▶", "→", "►": return ">"
        case "◀", "←": return "<"
        case "▼", "↓": return "v"
        case "▲", "↑": return "^"
        case "·", "•", "∙": return "."
        case "…": return "~"
        case "×": return "x"
        case "≥": return ">"
        case "≤": return "<"
        case "█", "▉", "▊", "▋", "▌", "▍", "▎": return "#"
        case "▓": return "%"
        case "▒": return ":"
        case "░": return "."
        case "◆": return "@"
        default: return "?"
        }
    }

    /// Whether `c` occupies exactly one terminal cell in every common terminal. Wide
    /// (CJK, emoji), combining and control characters are not, and are drawn as `?`.
    static func isSingleWidth(_ c: Character) -> Bool {
        let scalars = c.unicodeScalars
        guard scalars.count == 1, let v = scalars.first?.value else { return false }
        switch v {
        case 0x20...0x7E, 0xA0...0x2FF, 0x370...0x52F: return true
        case 0x2010...0x2027, 0x2030...0x205E, 0x2070...0x209F, 0x20A0...0x20BF: return true
        case 0x2100...0x214F, 0x2190...0x21FF, 0x2200...0x22FF: return true
        case 0x2500...0x25FC, 0x2800...0x28FF: return true
        default: return false
        }
    }
}
