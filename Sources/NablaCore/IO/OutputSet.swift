#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A directory of output files that is replaced as a whole: a reader sees the old set
/// or the new one, never a mix, and a run killed at any point leaves the old set intact.
///
/// How: every file of the new set is written and `fsync`ed into a fresh hidden directory
/// beside the output (`PARENT/.NAME.nabla-new-PID-N`); then that directory takes the
/// output's place in one step: `rename` when the output does not exist yet, else an
/// atomic exchange of the two directories (`renameat2(RENAME_EXCHANGE)` on Linux,
/// `renamex_np(RENAME_SWAP)` on macOS) after which the old set is removed. Entries of
/// the output directory that are not part of the set (a README, a user's notes) are
/// carried into the new directory as hard links first, so nothing of the user's is lost.
///
/// Chosen over a manifest because readers of these files (NumPy, PyTorch) open them by
/// name and check nothing; a directory swap is atomic for any reader that resolves the
/// directory once per file. Where the swap cannot be made (the directory holds
/// subdirectories that cannot be hard-linked, is the working directory or a mount point,
/// or the file system lacks the exchange), each file is still replaced atomically, in
/// the order given (the caller puts the file that describes the others last), and the
/// set is consistent again as soon as the last rename is done; `replaced` says which
/// way was taken.
public struct OutputSet {
    /// How the set was put in place.
    public enum Replacement: Sendable, Equatable {
        /// The directory was created or swapped whole (atomic for the set).
        case wholeDirectory
        /// Each file was renamed into place on its own (atomic for each file).
        case fileByFile(reason: String)
    }

    /// The directory being written (the hidden staging directory).
    public final class Stage {
        let path: String
        let shownDirectory: String
        fileprivate var names: [String] = []
        fileprivate var tokens: [Int] = []

        fileprivate init(path: String, shownDirectory: String) {
            self.path = path
            self.shownDirectory = shownDirectory
        }

        /// Writes one file of the set.
        /// - Throws: `NablaError.writeFailed` naming the output path (`DIR/NAME`).
        public func write(_ bytes: [UInt8], named name: String) throws {
            try write(named: name) { try $0.write(bytes) }
        }

        /// Writes one file of the set piece by piece: `body` appends to it (an array
        /// written in row chunks is never held whole).
        /// - Throws: `NablaError.writeFailed` naming the output path (`DIR/NAME`);
        ///   whatever `body` throws.
        public func write(named name: String, _ body: (FileSink) throws -> Void) throws {
            precondition(!name.contains("/") && !name.hasPrefix("."), "set members are plain names")
            let file = OutputPath.join(path, name)
            tokens.append(OutputCleanup.register(file))
            try AtomicFile.writeNew(at: file, reportingAs: OutputPath.join(shownDirectory, name), body)
            names.append(name)
        }
    }

    /// Writes a set of files as `directory` (created with its parents if needed),
    /// replacing the set there. `body` writes the files into the stage, in the order in
    /// which they should appear when the swap cannot be whole (the summary last).
    /// - Returns: how the set was put in place.
    /// - Throws: `NablaError.writeFailed`, one line naming the path and the reason;
    ///   whatever `body` throws. On any error the old set is untouched and nothing is
    ///   left behind.
    @discardableResult
    public static func replace(directory: String, _ body: (Stage) throws -> Void) throws -> Replacement {
        var target = directory
        var st = stat()
        if lstat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, let real = realpath(directory, nil) {
            // A link to the output directory: replace the directory it names, not the link.
            target = String(cString: real)
            free(real)
        }
        let (parent, name) = OutputPath.split(target)
        guard name != "." && name != ".." && name != "/" else {
            return try replaceFileByFile(directory: directory, reason: "\(directory) cannot be swapped", body)
        }
        try OutputPath.makeDirectories(parent, for: directory)
        OutputCleanup.removeStale(in: parent, prefix: ".\(name).nabla-new-")

        let existing = stat(target, &st) == 0
        if existing, (st.st_mode & S_IFMT) != S_IFDIR {
            throw NablaError(.writeFailed, "cannot write \(directory): it exists and is not a directory")
        }
        if existing, let reason = unswappable(target) {
            return try replaceFileByFile(directory: directory, reason: reason, body)
        }

        let stagePath = OutputPath.join(parent, ".\(name).nabla-new-\(getpid())-\(OutputCleanup.nextSerial())")
        let mode = st.st_mode & 0o7777
        return try withStage(stagePath, shown: directory, mkdirReason: "cannot create a directory beside it") { stage in
            try body(stage)
            if existing {
                chmod(stagePath, mode)
                try carryOver(from: target, into: stagePath, except: Set(stage.names), shown: directory, tokens: &stage.tokens)
            }
            OutputPath.syncDirectory(stagePath)
            OutputCleanup.testStep()

            if !existing {
                if rename(stagePath, target) == 0 {
                    OutputPath.syncDirectory(parent)
                    return .wholeDirectory
                }
                throw OutputPath.failure(directory, errno, "cannot move the new files into place")
            }
            if exchange(stagePath, target) {
                // stagePath now holds the old set (and links to the carried entries).
                OutputPath.syncDirectory(parent)
                return .wholeDirectory
            }
            let reason = "the file system cannot swap directories (\(String(cString: strerror(errno))))"
            try moveEach(stage.names, from: stagePath, to: target, shown: directory)
            return .fileByFile(reason: reason)
        }
    }

    /// Makes the stage directory `stagePath` (registered for removal on a signal), runs
    /// `work` with it, and removes whatever is left of it on every path.
    /// - Throws: `NablaError.writeFailed` naming `directory` when the stage cannot be
    ///   made (`mkdirReason` says where); whatever `work` throws.
    private static func withStage<R>(_ stagePath: String, shown directory: String, mkdirReason: String,
                                     _ work: (Stage) throws -> R) throws -> R {
        guard mkdir(stagePath, 0o777) == 0 else {
            throw OutputPath.failure(directory, errno, mkdirReason)
        }
        let stageToken = OutputCleanup.register(stagePath)
        let stage = Stage(path: stagePath, shownDirectory: directory)
        defer {
            OutputCleanup.removeTree(stagePath)
            for t in stage.tokens { OutputCleanup.unregister(t) }
            OutputCleanup.unregister(stageToken)
        }
        return try work(stage)
    }

    /// Why `dir` cannot be swapped whole, or `nil`.
    private static func unswappable(_ dir: String) -> String? {
        guard let real = realpath(dir, nil) else { return "\(dir) cannot be resolved" }
        let resolved = String(cString: real)
        free(real)
        if let cwd = FileManager.default.currentDirectoryPath.removingSlash,
           cwd == resolved || cwd.hasPrefix(resolved + "/") {
            return "\(dir) is the working directory or holds it"
        }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            return "\(dir) cannot be listed"
        }
        for e in entries {
            var st = stat()
            if lstat(OutputPath.join(dir, e), &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                return "\(dir) holds the directory \(e)"
            }
        }
        var a = stat(), b = stat()
        if stat(dir, &a) == 0, stat(OutputPath.split(resolved).0, &b) == 0, a.st_dev != b.st_dev {
            return "\(dir) is a mount point"
        }
        return nil
    }

    /// Hard-links the entries of `old` that the new set does not replace into `stage`.
    private static func carryOver(from old: String, into stage: String, except names: Set<String>, shown: String,
                                  tokens: inout [Int]) throws {
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: old) } catch {
            throw NablaError(.writeFailed, "cannot write \(shown): cannot list the existing directory")
        }
        for e in entries where !names.contains(e) && !e.contains(".nabla-tmp-") {
            let carried = OutputPath.join(stage, e)
            tokens.append(OutputCleanup.register(carried))
            if link(OutputPath.join(old, e), carried) != 0 {
                throw OutputPath.failure(shown, errno, "cannot keep its existing file \(e) in the new set")
            }
        }
    }

    /// Renames each staged file into `dir`, in order.
    private static func moveEach(_ names: [String], from stage: String, to dir: String, shown: String) throws {
        for n in names {
            OutputCleanup.testStep()
            if rename(OutputPath.join(stage, n), OutputPath.join(dir, n)) != 0 {
                throw OutputPath.failure(OutputPath.join(shown, n), errno, "cannot replace")
            }
        }
        OutputPath.syncDirectory(dir)
    }

    /// The file-by-file way: stage inside the directory itself, then rename each file.
    private static func replaceFileByFile(directory: String, reason: String, _ body: (Stage) throws -> Void) throws -> Replacement {
        try OutputPath.makeDirectories(directory, for: directory)
        OutputCleanup.removeStale(in: directory, prefix: ".nabla-new-")
        let stagePath = OutputPath.join(directory, ".nabla-new-\(getpid())-\(OutputCleanup.nextSerial())")
        return try withStage(stagePath, shown: directory, mkdirReason: "cannot create a directory in it") { stage in
            try body(stage)
            try moveEach(stage.names, from: stagePath, to: directory, shown: directory)
            return .fileByFile(reason: reason)
        }
    }

    /// Swaps two directory entries atomically; `false` (with `errno`) when not possible.
    private static func exchange(_ a: String, _ b: String) -> Bool {
        if OutputCleanup.noExchange {
            errno = ENOSYS
            return false
        }
        #if os(Linux)
        typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else {
            errno = ENOSYS
            return false
        }
        let renameat2 = unsafeBitCast(sym, to: RenameAt2.self)
        let renameExchange: UInt32 = 1 << 1
        return renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0
        #elseif canImport(Darwin)
        return renamex_np(a, b, UInt32(RENAME_SWAP)) == 0
        #else
        errno = ENOSYS
        return false
        #endif
    }
}

private extension String {
    /// The path without a trailing slash (`nil` for an empty string).
    var removingSlash: String? {
        isEmpty ? nil : (count > 1 && hasSuffix("/") ? String(dropLast()) : self)
    }
}
