import CNcursesw
import NablaTUI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An ncurses screen on the process's terminal: start-up, the modes the app needs,
/// colours and the mouse, re-entry after a stop (Ctrl-Z, `fg`), and teardown.
final class CursesSession {
    private let screen: OpaquePointer
    /// The terminal type ncurses was started with (`TERM`, or its direct-colour variant).
    let terminalType: String
    /// Colours ncurses can draw with (`0` without colour).
    private(set) var colors = 0
    private var mouse = false
    private var ended = false

    /// Starts ncurses on stdin/stdout.
    ///
    /// With `COLORTERM=truecolor` (or `24bit`) and a terminal type whose terminfo has
    /// fewer colours, the type's `-direct` variant is used when terminfo has one
    /// (`xterm-256color` -> `xterm-direct`), as most terminal tools honour COLORTERM.
    /// - Throws: `TerminalError` when ncurses cannot drive the terminal (an unknown
    ///   `TERM`, no terminal) or the terminal cannot move the cursor.
    init(environment: [String: String]) throws {
        let term = environment["TERM"] ?? ""
        guard !term.isEmpty else {
            throw TerminalError("TERM is not set; set it to your terminal's type or use 'nabla render' for text output")
        }
        var type = term
        if CursesSession.wantsDirectColor(environment), nabla_terminfo_colors(term) < 1 << 24,
           let direct = CursesSession.directVariant(of: term), nabla_terminfo_colors(direct) >= 1 << 24 {
            type = direct
        }
        guard let s = nabla_newterm_type(type) else {
            throw TerminalError("cannot drive terminal type '\(term)' (TERM); use 'nabla render' for text output")
        }
        screen = s
        terminalType = type
        guard nabla_can_address_cursor() != 0 else {
            end()
            throw TerminalError("terminal type '\(term)' (TERM) cannot move the cursor; use 'nabla render' for text output")
        }
        enterModes()
        if has_colors() {
            start_color()
            use_default_colors()
            colors = Int(nabla_colors())
        }
        // The crash handler now writes this terminal's own reset strings.
        CrashGuard.prepare(TerminalReset.fromTerminfo())
    }

    /// `COLORTERM` says the terminal takes 24-bit colour.
    static func wantsDirectColor(_ environment: [String: String]) -> Bool {
        ["truecolor", "24bit"].contains(environment["COLORTERM"]?.lowercased() ?? "")
    }

    /// `xterm-256color` -> `xterm-direct`; `nil` for a type that is already direct.
    static func directVariant(of term: String) -> String? {
        if term.hasSuffix("-direct") { return nil }
        var base = term
        for suffix in ["-256color", "-88color", "-16color", "-color"] where base.hasSuffix(suffix) {
            base = String(base.dropLast(suffix.count))
            break
        }
        return base + "-direct"
    }

    /// The input and output modes the app runs in: no line buffering or echo, function
    /// keys decoded (keypad transmit mode on), reads that do not block, no cursor.
    private func enterModes() {
        cbreak()
        noecho()
        nonl()
        intrflush(nabla_stdscr(), false)
        keypad(nabla_stdscr(), true)
        nodelay(nabla_stdscr(), true)
        set_escdelay(25)
        curs_set(0)
    }

    /// Reports the mouse buttons the app uses.
    func enableMouse() {
        mouse = true
        mousemask(MouseCodes.mask, nil)
        mouseinterval(0)
    }

    /// Before a stop (Ctrl-Z): the terminal given back as on exit (the shell's modes, the
    /// main screen, the cursor, no mouse reporting); the app's modes are saved for
    /// `reenter()`.
    func suspend() {
        def_prog_mode()
        endwin()
    }

    /// After a stop and `fg` (SIGCONT): the shell had the terminal, so set every mode
    /// again (keypad transmit, mouse reporting, hidden cursor) and repaint everything.
    func reenter() {
        reset_prog_mode()
        enterModes()
        if mouse {
            mousemask(0, nil)
            mousemask(MouseCodes.mask, nil)
        }
        clearok(nabla_curscr(), true)
    }

    /// Takes the kernel's new size after SIGWINCH.
    func resize() {
        var rows: Int32 = 0, cols: Int32 = 0
        if nabla_terminal_size(STDOUT_FILENO, &rows, &cols) == 0 {
            resizeterm(rows, cols)
        }
        clearok(nabla_curscr(), true)
    }

    var size: Size {
        var rows: Int32 = 0, cols: Int32 = 0
        nabla_getmaxyx(nabla_stdscr(), &rows, &cols)
        return Size(width: Int(cols), height: Int(rows))
    }

    /// Gives the terminal back. A terminal without an alternate screen (`TERM=vt100`,
    /// `linux`) would keep the app's last frame, status line and all: it is cleared first.
    func end() {
        guard !ended else { return }
        ended = true
        if nabla_tigetstr("rmcup") == nil {
            werase(nabla_stdscr())
            wrefresh(nabla_stdscr())
        }
        if mouse { mousemask(0, nil) }
        endwin()
        delscreen(screen)
    }
}
