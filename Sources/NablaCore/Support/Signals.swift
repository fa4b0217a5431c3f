#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place nabla installs and restores signal handlers: the commands' output
/// cleanup (`OutputCleanup.installSignalHandlers`), and the terminal app's signal route
/// and crash guard (NablaTerminal's `SignalRoute`, `CrashGuard`).
public enum Signals {
    /// Installs `handler` for `signals` with `sa_flags` `flags` (an empty mask) and returns
    /// the handlers it replaced, for `restore`. With `keepIgnored`, a signal the process was
    /// started with ignored (`nohup`, a shell's `trap '' SIG`) stays ignored; without, it is
    /// handled too (output cleanup must run however the process was started).
    public static func install(_ handler: @convention(c) (Int32) -> Void, for signals: [Int32], flags: Int32,
                               keepIgnored: Bool = true) -> [(Int32, sigaction)] {
        signals.compactMap { sig in
            var old = sigaction()
            guard sigaction(sig, nil, &old) == 0 else { return nil }
            #if canImport(Darwin)
            let ignored = unsafeBitCast(old.__sigaction_u.__sa_handler, to: Int.self) == 1
            #else
            let ignored = unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 1
            #endif
            if ignored && keepIgnored { return nil }
            var action = sigaction()
            #if canImport(Darwin)
            action.__sigaction_u.__sa_handler = handler
            #else
            action.__sigaction_handler.sa_handler = handler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = flags
            sigaction(sig, &action, nil)
            return (sig, old)
        }
    }

    /// Puts back the handlers `install` replaced.
    public static func restore(_ previous: [(Int32, sigaction)]) {
        for (sig, old) in previous {
            var action = old
            sigaction(sig, &action, nil)
        }
    }

    /// Unblocks `signals` in this thread's mask (a parent may start a process with them
    /// blocked; the mask is inherited).
    public static func unblock(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in signals { sigaddset(&set, sig) }
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }
}
