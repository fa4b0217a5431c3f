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

    /// A cell's colours on a terminal with only 8 colours, and whether to add bold.
    ///
    /// Text is never drawn in the background's colour: bright black (8) would become
    /// black, bold, which is invisible on the usual black background wherever bold is not
    /// also brightened, and black text on the terminal's default background is invisible
    /// on a dark terminal. Such a foreground becomes the terminal's default foreground, as
    /// does any foreground that maps to the background's colour. Pixels (`text` false:
    /// half blocks whose two colours are two pixels) keep their colours.
    public static func forEightColors(foreground: TerminalColor, background: TerminalColor, text: Bool = true)
        -> (foreground: TerminalColor, background: TerminalColor, bold: Bool)
    {
        let bg = background.forEightColors().color
        var (fg, bold) = foreground.forEightColors()
        let darkOnDefault = fg == .indexed(0) && bg == .terminalDefault
        if text && (fg == bg || darkOnDefault) { (fg, bold) = (.terminalDefault, false) }
        return (fg, bg, bold)
    }
}
