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
/// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGALRM, ...), SIGWINCH and SIGCONT to a
/// wake pipe while installed, and puts the previous handlers back on `restore()`.
struct SignalRoute {
    static let signals: [Int32] = TerminatingSignals.requests + [SIGWINCH, SIGCONT]
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
