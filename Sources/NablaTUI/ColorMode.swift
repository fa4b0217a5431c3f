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
