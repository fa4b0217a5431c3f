#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The temporary files and directories the writers have in flight, so that nothing is
/// left behind: removed on every error path by the writers, on SIGINT/SIGTERM/SIGHUP by
/// a signal handler (`installSignalHandlers()`), and, after a SIGKILL, by the next write
/// into the same directory (`removeStale`).
public enum OutputCleanup {
    /// Slots for registered paths; the signal handler reads them without locking, so
    /// each is a C string allocated before it is published and freed after it is cleared.
    private static let capacity = 64
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        p.initialize(repeating: nil, count: capacity)
        return p
    }()
    private static let lock = NSLock()
    nonisolated(unsafe) private static var serial = 0

    /// A process-unique number for temporary names.
    static func nextSerial() -> Int {
        lock.lock()
        defer { lock.unlock() }
        serial += 1
        return serial
    }

    /// Publishes `path` for removal by the signal handler; returns its slot (or -1 when
    /// all slots are in use, in which case only the writer's own cleanup removes it).
    static func register(_ path: String) -> Int {
        let c = strdup(path)
        lock.lock()
        defer { lock.unlock() }
        for i in 0..<capacity where slots[i] == nil {
            slots[i] = c
            return i
        }
        free(c)
        return -1
    }

    static func unregister(_ slot: Int) {
        guard slot >= 0 else { return }
        lock.lock()
        let c = slots[slot]
        slots[slot] = nil
        lock.unlock()
        free(c)
    }

    /// Makes SIGINT, SIGTERM and SIGHUP remove the registered temporary files (newest
    /// first: files before the directories holding them), then end the process with the
    /// signal's default action. For command-line tools; the terminal app has its own
    /// handlers. Idempotent.
    public static func installSignalHandlers() {
        let signals = [SIGINT, SIGTERM, SIGHUP]
        _ = Signals.install(outputCleanupHandler, for: signals, flags: Int32(truncatingIfNeeded: SA_RESETHAND), keepIgnored: false)
        // A parent may start us with these blocked; a handler that never runs would leave
        // the temporary files.
        Signals.unblock(signals)
    }

    /// Async-signal-safe: `unlink` and `rmdir` of the registered paths.
    fileprivate static func removeAllRegistered() {
        var i = capacity - 1
        while i >= 0 {
            if let c = slots[i] {
                if unlink(c) != 0 { rmdir(c) }
            }
            i -= 1
        }
    }

    /// The kinds of hidden entries the writers make, each `KIND-PID-N` (after an
    /// optional `.NAME` in the names of earlier versions): a file being written
    /// (`.nabla-tmp-`), a set or tree being staged (`.nabla-new-`), and an old tree
    /// moved aside while a new one takes its place (`.nabla-old-`, see
    /// `OutputSet.replaceTree`).
    static let kinds = [".nabla-tmp-", ".nabla-new-", ".nabla-old-"]

    /// A fresh name for a stage directory in `dir`: `dir/.nabla-new-PID-N` (short, so it
    /// fits wherever the output's own name fits).
    static func stageName(in dir: String) -> String {
        OutputPath.join(dir, ".nabla-new-\(getpid())-\(nextSerial())")
    }

    /// A fresh name for a temporary file in `dir`: `dir/.nabla-tmp-PID-N`.
    static func temporaryName(in dir: String) -> String {
        OutputPath.join(dir, ".nabla-tmp-\(getpid())-\(nextSerial())")
    }

    /// The process id in a writer's hidden name (`.nabla-new-123-4` gives 123), `nil`
    /// for any other name.
    static func owner(of entry: String) -> Int32? {
        for kind in kinds {
            guard let r = entry.range(of: kind, options: .backwards) else { continue }
            let rest = entry[r.upperBound...]
            let parts = rest.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let pid = Int32(parts[0]), pid > 0,
                  parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), !parts[1].isEmpty else { return nil }
            return pid
        }
        return nil
    }

    /// Whether process `pid` is gone (so what it left can be removed).
    static func isGone(_ pid: Int32) -> Bool {
        pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Tidies what killed writers left in `dir` (entries named as in `kinds` whose
    /// process no longer exists; directories with everything in them). An old tree moved
    /// aside (`.nabla-old-PID-N`, with `.nabla-old-PID-N.target` naming its place) whose
    /// place is empty is put back first: the writer was killed between moving the old
    /// tree aside and moving the new one in. Errors are ignored: this is tidying, never
    /// needed for correctness of the new write.
    static func removeStale(in dir: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for entry in entries where entry.hasPrefix(".nabla-old-") && !entry.hasSuffix(".target") {
            guard let pid = owner(of: entry), isGone(pid) else { continue }
            let aside = OutputPath.join(dir, entry)
            let note = aside + ".target"
            if let data = FileManager.default.contents(atPath: note), let name = String(data: data, encoding: .utf8),
               !name.isEmpty, !name.contains("/"), name != ".", name != ".." {
                let place = OutputPath.join(dir, name)
                var st = stat()
                if lstat(place, &st) != 0 && errno == ENOENT && rename(aside, place) == 0 {
                    OutputPath.syncDirectory(dir)
                }
            }
            if access(aside, F_OK) == 0 { removeTree(aside) }
            unlink(note)
        }
        for entry in entries where !entry.hasPrefix(".nabla-old-") {
            guard let pid = owner(of: entry), isGone(pid) else { continue }
            removeTree(OutputPath.join(dir, entry))
        }
        for entry in entries where entry.hasPrefix(".nabla-old-") && entry.hasSuffix(".target") {
            guard let pid = owner(of: String(entry.dropLast(".target".count))), isGone(pid) else { continue }
            unlink(OutputPath.join(dir, entry))
        }
    }

    /// Removes a file, or a directory with everything in it. Links are removed, never
    /// followed.
    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                removeTree(OutputPath.join(path, name))
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    // MARK: - Fault injection for tests

    /// Test-only: with `NABLA_TEST_KILL_AFTER_BYTES=N` in the environment, the process
    /// sends itself SIGKILL (or `NABLA_TEST_KILL_SIGNAL`, a number) once the writers have
    /// written `N` bytes in all (writes go in chunks of at most 64 KiB so that the kill
    /// lands inside a file; each rename counts as one byte). Lets end-to-end tests kill a
    /// real write at any point; unset, it costs one comparison per chunk.
    static let killAfterBytes: Int? = ProcessInfo.processInfo.environment["NABLA_TEST_KILL_AFTER_BYTES"].flatMap { Int($0) }
    /// Test-only: `NABLA_TEST_KILL_AT_STEP=N` kills at the N-th rename step instead
    /// (1: after every byte is written and synced, just before the set is swapped in).
    static let killAtStep: Int? = ProcessInfo.processInfo.environment["NABLA_TEST_KILL_AT_STEP"].flatMap { Int($0) }
    /// Test-only: `NABLA_TEST_NO_EXCHANGE` makes the directory swap fail, as on a file
    /// system without it, so tests reach `OutputSet`'s file-by-file way.
    static let noExchange = ProcessInfo.processInfo.environment["NABLA_TEST_NO_EXCHANGE"] != nil
    nonisolated(unsafe) private static var steps = 0
    static let killSignal: Int32 = ProcessInfo.processInfo.environment["NABLA_TEST_KILL_SIGNAL"].flatMap { Int32($0) } ?? SIGKILL
    static let testChunkLimit: Int? = killAfterBytes == nil && killAtStep == nil ? nil : 64 << 10
    nonisolated(unsafe) private static var totalWritten = 0

    /// Called after each chunk of `added` bytes written.
    static func testHook(added: Int) {
        guard let limit = killAfterBytes else { return }
        totalWritten += added
        if totalWritten >= limit { killSelf() }
    }

    /// Called between steps that are not byte writes (renames), counting each as one
    /// byte, so a test can also stop the process between the files of a set.
    static func testStep() {
        if let killAtStep {
            steps += 1
            if steps >= killAtStep { killSelf() }
        }
        testHook(added: 1)
    }

    private static func killSelf() {
        kill(getpid(), killSignal)
        // A caught signal returns here only if it is blocked or ignored.
        _exit(99)
    }
}

private func outputCleanupHandler(_ sig: Int32) {
    OutputCleanup.removeAllRegistered()
    raise(sig)
}
