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
