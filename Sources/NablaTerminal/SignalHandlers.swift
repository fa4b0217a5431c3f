import NablaCore
import CNcursesw
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The signals whose default action ends the process, by what nabla does with them.
enum TerminatingSignals {
    /// Faults and traps (a Swift runtime trap is SIGILL or SIGTRAP): the process cannot
    /// go on, so `CrashGuard` restores the terminal in the handler and dies of the signal.
    static let crashes: [Int32] = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT, SIGSYS]

    /// Every other signal whose default action terminates (signal(7)): `SignalRoute`
    /// turns them into a clean exit through the main loop, `endwin()` and all.
    static let requests: [Int32] = {
        var list: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE,
                             SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO]
        #if os(Linux)
        list += [SIGSTKFLT, SIGPWR]
        list += Array(nabla_sigrtmin()...nabla_sigrtmax())
        #endif
        return list
    }()
}

/// Installs `handler` for `signals` (`Signals.install` in NablaCore, the one place
/// handlers are installed); a signal the process was started with ignored stays ignored.
func installHandler(_ handler: @convention(c) (Int32) -> Void, for signals: [Int32],
                    flags: Int32) -> [(Int32, sigaction)] {
    Signals.install(handler, for: signals, flags: flags)
}

/// Puts back the handlers `installHandler` replaced.
func restoreHandlers(_ previous: [(Int32, sigaction)]) {
    Signals.restore(previous)
}
