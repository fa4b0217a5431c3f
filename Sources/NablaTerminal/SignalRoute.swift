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

/// Routes every terminating signal that is not a crash (`TerminatingSignals.requests`:
/// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGALRM, ...), SIGWINCH, SIGTSTP and SIGCONT
/// to a wake pipe while installed, and puts the previous handlers back on `restore()`.
///
/// SIGTSTP (Ctrl-Z) is the app's, not ncurses' own handler: that one runs `endwin()`
/// inside the signal handler on whatever the main loop was doing, and a Ctrl-Z that came
/// while the screen was being drawn was sometimes lost (the app kept running). Routed, the
/// main loop gives the terminal back between frames and then stops (`stopProcess()`).
struct SignalRoute {
    static let signals: [Int32] = TerminatingSignals.requests + [SIGWINCH, SIGTSTP, SIGCONT]
    private var previous: [(Int32, sigaction)] = []

    init(to pipe: WakePipe) {
        signalWakeFD = pipe.writeFD
        previous = installHandler(wakeOnSignal, for: SignalRoute.signals, flags: SA_RESTART)
    }

    /// Stops the process as SIGTSTP's default action does (the terminal already given
    /// back), and routes SIGTSTP again once continued.
    static func stopProcess() {
        signal(SIGTSTP, SIG_DFL)
        raise(SIGTSTP)
        // Continued (SIGCONT, routed like the rest, reaches the main loop next).
        _ = installHandler(wakeOnSignal, for: [SIGTSTP], flags: SA_RESTART)
    }

    func restore() {
        restoreHandlers(previous)
        signalWakeFD = -1
    }
}
