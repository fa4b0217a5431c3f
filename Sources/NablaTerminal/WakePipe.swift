#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The write end of the wake-up pipe, for the signal handler. Set once before any
/// handler is installed and reset after they are removed, so the handler only ever reads
/// a settled value; a signal handler cannot take a context, hence the global.
nonisolated(unsafe) private var signalWakeFD: Int32 = -1

/// Writes the signal number to the wake-up pipe; nothing else is async-signal-safe enough.
private func wakeOnSignal(_ signal: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalWakeFD, &byte, 1)
    errno = saved
}

/// A self-pipe: background jobs and signal handlers write a byte, the main loop's
/// `poll` wakes up. Byte 0 means "a job finished"; any other byte is a signal number.
final class WakePipe: Sendable {
    let readFD: Int32
    let writeFD: Int32
    static let jobDone: UInt8 = 0

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw TerminalError("cannot create a pipe: errno \(errno)") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Wakes the main loop (from any thread).
    func wake(_ byte: UInt8 = WakePipe.jobDone) {
        var b = byte
        _ = write(writeFD, &b, 1)
    }

    /// Every byte written since the last drain.
    func drain() -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(readFD, &buffer, buffer.count)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}

/// Routes SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGWINCH to a wake pipe while installed, and puts
/// the previous handlers back on `restore()`.
struct SignalRoute {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH]
    private var previous: [(Int32, sigaction)] = []

    init(to pipe: WakePipe) {
        signalWakeFD = pipe.writeFD
        previous = installHandler(wakeOnSignal, for: SignalRoute.signals, flags: SA_RESTART)
    }

    func restore() {
        restoreHandlers(previous)
        signalWakeFD = -1
    }
}

/// Installs `handler` for `signals` and returns the handlers it replaced.
private func installHandler(_ handler: @convention(c) (Int32) -> Void, for signals: [Int32],
                            flags: Int32) -> [(Int32, sigaction)] {
    signals.map { sig in
        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = flags
        var old = sigaction()
        sigaction(sig, &action, &old)
        return (sig, old)
    }
}

/// Puts back the handlers `installHandler` replaced.
private func restoreHandlers(_ previous: [(Int32, sigaction)]) {
    for (sig, old) in previous {
        var action = old
        sigaction(sig, &action, nil)
    }
}

/// The terminal's modes as they were before ncurses started, for the crash handler.
nonisolated(unsafe) private var savedTerminalModes = termios()
nonisolated(unsafe) private var haveSavedModes = false
/// The escape sequences that undo what ncurses set up (attributes, mouse reporting,
/// hidden cursor, alternate screen), prepared before any handler can run: a signal
/// handler must not allocate.
nonisolated(unsafe) private var resetSequence: (bytes: UnsafeMutablePointer<UInt8>, count: Int)?

/// On a fatal signal, puts the terminal back (modes, cursor, main screen, mouse
/// reporting off) with async-signal-safe calls only, then dies of the same signal.
private func restoreTerminalAndDie(_ signal: Int32) {
    if haveSavedModes { _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &savedTerminalModes) }
    if let reset = resetSequence { _ = write(STDOUT_FILENO, reset.bytes, reset.count) }
    // SA_RESETHAND already put the default action back, so this ends the process.
    raise(signal)
}

/// Installs `restoreTerminalAndDie` for SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE and
/// SIGABRT (a Swift runtime trap is SIGILL or SIGTRAP), after saving the terminal's
/// modes; `remove()` puts the previous handlers back.
struct CrashGuard {
    static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT]
    private var previous: [(Int32, sigaction)] = []

    init() {
        if resetSequence == nil {
            let bytes = Array("\u{1B}[0m\u{1B}[?1000l\u{1B}[?1002l\u{1B}[?1006l\u{1B}[?25h\u{1B}[?1049l\r\n".utf8)
            let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
            buffer.initialize(from: bytes, count: bytes.count)
            resetSequence = (buffer, bytes.count)
        }
        haveSavedModes = tcgetattr(STDIN_FILENO, &savedTerminalModes) == 0
        previous = installHandler(restoreTerminalAndDie, for: CrashGuard.signals,
                                  flags: Int32(truncatingIfNeeded: SA_RESETHAND))
    }

    func remove() {
        restoreHandlers(previous)
        haveSavedModes = false
    }
}

struct TerminalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
