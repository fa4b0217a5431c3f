import CNcursesw
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal's modes as they were before ncurses started, for the crash handler.
nonisolated(unsafe) private var savedTerminalModes = termios()
nonisolated(unsafe) private var haveSavedModes = false
/// The bytes that undo what the app set up on the terminal (attributes, keypad transmit
/// mode, mouse reporting, hidden cursor, alternate screen), prepared before any handler
/// can run: a signal handler must not allocate.
nonisolated(unsafe) private var resetSequence: (bytes: UnsafeMutablePointer<UInt8>, count: Int)?

/// On a fatal signal, puts the terminal back (modes, cursor, main screen, keypad and
/// mouse reporting off) with async-signal-safe calls only, then dies of the same signal.
private func restoreTerminalAndDie(_ signal: Int32) {
    if haveSavedModes { _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &savedTerminalModes) }
    if let reset = resetSequence { _ = write(STDOUT_FILENO, reset.bytes, reset.count) }
    // SA_RESETHAND already put the default action back, so this ends the process.
    raise(signal)
}

/// Installs `restoreTerminalAndDie` for the crash signals (`TerminatingSignals.crashes`),
/// after saving the terminal's modes; `remove()` puts the previous handlers back.
struct CrashGuard {
    private var previous: [(Int32, sigaction)] = []

    init() {
        if resetSequence == nil { CrashGuard.prepare(TerminalReset.generic) }
        haveSavedModes = tcgetattr(STDIN_FILENO, &savedTerminalModes) == 0
        previous = installHandler(restoreTerminalAndDie, for: TerminatingSignals.crashes,
                                  flags: Int32(truncatingIfNeeded: SA_RESETHAND))
    }

    /// Replaces the reset bytes, e.g. with the terminal's own once terminfo is loaded.
    /// Call with the crash signals blocked or before they can arrive (main thread only).
    static func prepare(_ bytes: [UInt8]) {
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        buffer.initialize(from: bytes, count: bytes.count)
        let old = resetSequence
        resetSequence = (buffer, bytes.count)
        // A handler running now still reads the old buffer: leak it rather than free it.
        _ = old
    }

    func remove() {
        restoreHandlers(previous)
        haveSavedModes = false
    }
}

/// The bytes that put a terminal back into its ordinary state.
enum TerminalReset {
    /// Mouse reporting off, in every protocol xterm-like terminals know.
    static let mouseOff = "\u{1B}[?1000l\u{1B}[?1002l\u{1B}[?1003l\u{1B}[?1006l"
    /// For before terminfo is loaded: xterm's attributes off, keypad local, mouse off,
    /// cursor shown, main screen.
    static let generic = Array(("\u{1B}[0m\u{1B}[?1l\u{1B}>" + mouseOff + "\u{1B}[?25h\u{1B}[?1049l\r\n").utf8)

    /// The current terminal's own strings (terminfo `sgr0`, `rmkx`, `cnorm`, `rmcup`),
    /// mouse reporting off, and where there is no alternate screen to leave, `clear`.
    static func fromTerminfo() -> [UInt8] {
        func cap(_ name: String) -> String? {
            guard let p = nabla_tigetstr(name) else { return nil }
            let s = String(cString: p)
            return s.isEmpty ? nil : s
        }
        var out = (cap("sgr0") ?? "") + (cap("rmkx") ?? "") + (cap("cnorm") ?? "")
        if cap("kmous") != nil { out += mouseOff }
        if let rmcup = cap("rmcup") { out += rmcup } else { out += cap("clear") ?? "" }
        return Array((out + "\r\n").utf8)
    }
}
