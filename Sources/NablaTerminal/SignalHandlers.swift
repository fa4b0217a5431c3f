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

/// Installs `handler` for `signals` and returns the handlers it replaced. A signal the
/// process was started with ignored (`nohup`, a shell's `trap '' SIG`) stays ignored.
func installHandler(_ handler: @convention(c) (Int32) -> Void, for signals: [Int32],
                    flags: Int32) -> [(Int32, sigaction)] {
    signals.compactMap { sig in
        var old = sigaction()
        guard sigaction(sig, nil, &old) == 0 else { return nil }
        #if canImport(Glibc)
        let ignored = unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 1
        #else
        let ignored = unsafeBitCast(old.__sigaction_u.__sa_handler, to: Int.self) == 1
        #endif
        if ignored { return nil }
        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = flags
        sigaction(sig, &action, nil)
        return (sig, old)
    }
}

/// Puts back the handlers `installHandler` replaced.
func restoreHandlers(_ previous: [(Int32, sigaction)]) {
    for (sig, old) in previous {
        var action = old
        sigaction(sig, &action, nil)
    }
}
