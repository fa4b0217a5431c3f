#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Output files that appear whole or not at all.
///
/// One file (`write(_:to:)`): the bytes go to a hidden temporary file in the same
/// directory (`.nabla-tmp-PID-N`, created with `O_EXCL | O_NOFOLLOW`; short, so a
/// name near the file system's limit still has one), are
/// `fsync`ed, and the temporary file is renamed over `NAME`; then the directory is
/// `fsync`ed. `rename` replaces a directory entry and never follows a symlink there, so a
/// pre-existing `NAME -> elsewhere` link is replaced by the new file and its target is
/// never written. A reader sees the old file or the new one, never a part.
///
/// A set of files (`OutputSet`): see there.
///
/// Temporary names carry the writer's process id; a writer killed before it could clean
/// up (SIGKILL, power loss) leaves one, and the next write into the same directory
/// removes those whose process is gone. `OutputCleanup.installSignalHandlers()` makes
/// SIGINT, SIGTERM and SIGHUP remove them at once.
public enum AtomicFile {
    /// Writes `bytes` to `path`, replacing any file or link there.
    /// - Throws: `NablaError.writeFailed`, one line naming `path` and the reason.
    /// - Complexity: O(bytes), plus two `fsync`s.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try bytes.withUnsafeBytes { try write(contentsOf: $0, to: path) }
    }

    /// Writes the bytes in `buffer` to `path`; see `write(_:to:)`.
    /// - Throws: `NablaError.writeFailed`.
    public static func write(contentsOf buffer: UnsafeRawBufferPointer, to path: String) throws {
        let (dir, _) = OutputPath.split(path)
        try OutputPath.checkDirectory(dir, for: path)
        OutputCleanup.removeStale(in: dir)
        let temp = OutputCleanup.temporaryName(in: dir)
        let token = OutputCleanup.register(temp)
        defer { OutputCleanup.unregister(token) }
        do {
            try writeNew(buffer, at: temp, reportingAs: path)
            OutputCleanup.testStep()
            guard rename(temp, path) == 0 else {
                throw OutputPath.failure(path, errno, "cannot replace")
            }
        } catch {
            unlink(temp)
            throw error
        }
        OutputPath.syncDirectory(dir)
    }

    /// Creates `path` (which must not exist), writes `buffer`, `fsync`s and closes it.
    /// - Throws: `NablaError.writeFailed` naming `reportingAs`.
    static func writeNew(_ buffer: UnsafeRawBufferPointer, at path: String, reportingAs shown: String) throws {
        try writeNew(at: path, reportingAs: shown) { try $0.write(buffer) }
    }

    /// Creates `path` (which must not exist), lets `body` write it piece by piece
    /// (`FileSink.write`), then `fsync`s and closes it; a file of any size is written
    /// without its bytes ever being held whole.
    /// - Throws: `NablaError.writeFailed` naming `reportingAs`; whatever `body` throws
    ///   (the file is closed; the caller removes it).
    static func writeNew(at path: String, reportingAs shown: String, _ body: (FileSink) throws -> Void) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputPath.failure(shown, errno, "cannot create") }
        let sink = FileSink(fd: fd, shown: shown)
        do {
            try body(sink)
        } catch {
            close(fd)
            throw error
        }
        var failure: (Int32, String)?
        if fsync(fd) != 0 { failure = (errno, "cannot flush to disk") }
        if close(fd) != 0, failure == nil { failure = (errno, "cannot close") }
        if let (code, what) = failure { throw OutputPath.failure(shown, code, what) }
    }
}

/// An output file being written in pieces (see `AtomicFile.writeNew(at:reportingAs:_:)`).
public final class FileSink {
    private let fd: Int32
    private let shown: String
    /// Bytes written so far.
    public private(set) var written = 0

    fileprivate init(fd: Int32, shown: String) {
        self.fd = fd
        self.shown = shown
    }

    /// Appends `buffer` to the file.
    /// - Throws: `NablaError.writeFailed` naming the output path, the bytes written and the reason.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let chunk = min(buffer.count - done, OutputCleanup.testChunkLimit ?? Int.max)
            let n = Glibc_write(fd, base + done, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputPath.failure(shown, errno, "write failed after \(written) bytes")
            }
            done += n
            written += n
            OutputCleanup.testHook(added: n)
        }
    }

    /// Appends `bytes` to the file.
    /// - Throws: as `write(_:)` for a buffer.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}

/// Path helpers for the writers: splitting, checking and one-line failures.
enum OutputPath {
    /// `("dir", "name")`; `dir` is `"."` for a bare name.
    static func split(_ path: String) -> (String, String) {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return (".", String(p)) }
        let dir = p[..<slash]
        return (dir.isEmpty ? "/" : String(dir), String(p[p.index(after: slash)...]))
    }

    static func join(_ dir: String, _ name: String) -> String {
        dir == "." ? name : (dir.hasSuffix("/") ? dir + name : dir + "/" + name)
    }

    /// One line: "cannot create out/mask.npy: Permission denied".
    static func failure(_ path: String, _ code: Int32, _ what: String) -> NablaError {
        NablaError(.writeFailed, "cannot write \(path): \(what): \(String(cString: strerror(code)))")
    }

    /// Checks that `dir` is an existing directory, naming the first component that is
    /// not (`out/sub/mask.npy: out is a file, not a directory`).
    static func checkDirectory(_ dir: String, for path: String) throws {
        var st = stat()
        if stat(dir, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw NablaError(.writeFailed, "cannot write \(path): \(dir) is not a directory")
        }
        let code = errno
        if code == ENOTDIR, let blocker = firstNonDirectory(in: dir) {
            throw NablaError(.writeFailed, "cannot write \(path): \(blocker) is not a directory")
        }
        if code == ENOENT {
            throw NablaError(.writeFailed, "cannot write \(path): the directory \(dir) does not exist")
        }
        throw failure(path, code, "cannot use the directory \(dir)")
    }

    /// The first leading part of `dir` that exists but is not a directory.
    static func firstNonDirectory(in dir: String) -> String? {
        var prefix = dir.hasPrefix("/") ? "/" : ""
        for part in dir.split(separator: "/") {
            prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix + part : prefix + "/" + part
            var st = stat()
            if stat(prefix, &st) != 0 { return nil }
            if (st.st_mode & S_IFMT) != S_IFDIR { return prefix }
        }
        return nil
    }

    /// Creates `dir` and its missing parents (mode 0777 less the umask).
    /// - Throws: `NablaError.writeFailed` naming `path`, the blocking part and the reason.
    static func makeDirectories(_ dir: String, for path: String) throws {
        var prefix = dir.hasPrefix("/") ? "/" : ""
        for part in dir.split(separator: "/") {
            prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix + part : prefix + "/" + part
            var st = stat()
            if stat(prefix, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw NablaError(.writeFailed, "cannot write \(path): \(prefix) is not a directory")
                }
                continue
            }
            if mkdir(prefix, 0o777) != 0 && errno != EEXIST {
                throw failure(path, errno, "cannot create the directory \(prefix)")
            }
        }
    }

    /// The longest name, in bytes, the file system of `dir` allows (`NAME_MAX`; 255 when
    /// it cannot be asked).
    static func nameMax(in dir: String) -> Int {
        let limit = pathconf(dir, Int32(_PC_NAME_MAX))
        return limit > 0 ? limit : 255
    }

    /// Refuses an output whose own name the file system of `dir` cannot hold, before any
    /// work is done for it.
    /// - Throws: `NablaError.writeFailed` naming `path`, the length and the limit.
    static func checkNameLength(_ name: String, in dir: String, for path: String) throws {
        let limit = nameMax(in: dir)
        if name.utf8.count > limit {
            throw NablaError(.writeFailed, "cannot write \(path): its name is \(name.utf8.count) bytes, more than the \(limit) the file system allows")
        }
    }

    /// `fsync` of a directory, so a rename in it survives a crash (best effort).
    static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
