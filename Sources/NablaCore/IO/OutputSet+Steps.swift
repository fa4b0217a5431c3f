#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// The steps OutputSet's replace and replaceTree are made of (the type and its two entry
// points are in OutputSet.swift).

extension OutputSet {
    /// The entries of the existing `dir` that a new tree keeps (files and links not in
    /// `old`); a folder that is neither in `old` nor nabla's is refused.
    static func keptEntries(of dir: String, old: Set<String>, shown: String) throws -> [String] {
        if let real = realpath(dir, nil) {
            let resolved = String(cString: real)
            free(real)
            if let cwd = FileManager.default.currentDirectoryPath.removingSlash,
               cwd == resolved || cwd.hasPrefix(resolved + "/") {
                throw NablaError(.writeFailed, "cannot write \(shown): it is the working directory or holds it, and the folder is replaced whole; give a folder inside it")
            }
            var a = stat(), b = stat()
            if stat(dir, &a) == 0, stat(OutputPath.split(resolved).0, &b) == 0, a.st_dev != b.st_dev {
                throw NablaError(.writeFailed, "cannot write \(shown): it is a mount point, and the folder is replaced whole; give a folder inside it")
            }
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw NablaError(.writeFailed, "cannot write \(shown): cannot list the existing folder")
        }
        var keep: [String] = []
        for e in entries.sorted() where !old.contains(e) && OutputCleanup.owner(of: e) == nil {
            var st = stat()
            if lstat(OutputPath.join(dir, e), &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                throw NablaError(.writeFailed, "cannot write \(shown): it holds the folder \(e), which is not part of an earlier output there; move it or choose another folder")
            }
            keep.append(e)
        }
        return keep
    }

    /// The swap without an exchange: the old tree renamed aside (its place noted for
    /// `OutputCleanup.removeStale`), the new one renamed in, then the old one removed.
    static func swapAside(_ stagePath: String, _ target: String, parent: String, name: String, shown: String) throws {
        let aside = OutputPath.join(parent, ".nabla-old-\(getpid())-\(OutputCleanup.nextSerial())")
        let note = aside + ".target"
        try AtomicFile.writeNew(at: note, reportingAs: shown) { try $0.write(Array(name.utf8)) }
        defer { unlink(note) }
        guard rename(target, aside) == 0 else {
            throw OutputPath.failure(shown, errno, "cannot move the old folder aside")
        }
        OutputPath.syncDirectory(parent)
        OutputCleanup.testStep()
        guard rename(stagePath, target) == 0 else {
            let code = errno
            rename(aside, target)
            throw OutputPath.failure(shown, code, "cannot move the new folder into place")
        }
        OutputPath.syncDirectory(parent)
        OutputCleanup.removeTree(aside)
    }

    /// Makes the stage directory `stagePath` (registered for removal on a signal), runs
    /// `work` with it, and removes whatever is left of it on every path.
    /// - Throws: `NablaError.writeFailed` naming `directory` when the stage cannot be
    ///   made (`mkdirReason` says where); whatever `work` throws.
    static func withStage<R>(_ stagePath: String, shown directory: String, mkdirReason: String,
                                     _ work: (Stage) throws -> R) throws -> R {
        guard mkdir(stagePath, 0o777) == 0 else {
            throw OutputPath.failure(directory, errno, mkdirReason)
        }
        let stageToken = OutputCleanup.register(stagePath)
        let stage = Stage(path: stagePath, shownDirectory: directory)
        defer {
            OutputCleanup.removeTree(stagePath)
            for t in stage.allTokens { OutputCleanup.unregister(t) }
            OutputCleanup.unregister(stageToken)
        }
        return try work(stage)
    }

    /// Why `dir` cannot be swapped whole, or `nil`.
    static func unswappable(_ dir: String) -> String? {
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

    /// Hard-links the entries `only` of `old` into `stage`.
    static func carryOver(from old: String, into stage: String, only entries: [String], shown: String,
                                  tokens: inout [Int]) throws {
        for e in entries {
            let carried = OutputPath.join(stage, e)
            tokens.append(OutputCleanup.register(carried))
            if link(OutputPath.join(old, e), carried) != 0 {
                throw OutputPath.failure(shown, errno, "cannot keep its existing file \(e) in the new set")
            }
        }
    }

    /// Hard-links the entries of `old` that the new set does not replace into `stage`.
    static func carryOver(from old: String, into stage: String, except names: Set<String>, shown: String,
                                  tokens: inout [Int]) throws {
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: old) } catch {
            throw NablaError(.writeFailed, "cannot write \(shown): cannot list the existing directory")
        }
        for e in entries where !names.contains(e) && OutputCleanup.owner(of: e) == nil {
            let carried = OutputPath.join(stage, e)
            tokens.append(OutputCleanup.register(carried))
            if link(OutputPath.join(old, e), carried) != 0 {
                throw OutputPath.failure(shown, errno, "cannot keep its existing file \(e) in the new set")
            }
        }
    }

    /// Renames each staged file into `dir`, in order.
    static func moveEach(_ names: [String], from stage: String, to dir: String, shown: String) throws {
        for n in names {
            OutputCleanup.testStep()
            if rename(OutputPath.join(stage, n), OutputPath.join(dir, n)) != 0 {
                throw OutputPath.failure(OutputPath.join(shown, n), errno, "cannot replace")
            }
        }
        OutputPath.syncDirectory(dir)
    }

    /// The file-by-file way: stage inside the directory itself, then rename each file.
    static func replaceFileByFile(directory: String, reason: String, _ body: (Stage) throws -> Void) throws -> Replacement {
        try OutputPath.makeDirectories(directory, for: directory)
        OutputCleanup.removeStale(in: directory)
        let stagePath = OutputCleanup.stageName(in: directory)
        return try withStage(stagePath, shown: directory, mkdirReason: "cannot create a directory in it") { stage in
            try body(stage)
            try moveEach(stage.names, from: stagePath, to: directory, shown: directory)
            return .fileByFile(reason: reason)
        }
    }

    /// Swaps two directory entries atomically; `false` (with `errno`) when not possible.
    static func exchange(_ a: String, _ b: String) -> Bool {
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

extension String {
    /// The path without a trailing slash (`nil` for an empty string).
    var removingSlash: String? {
        isEmpty ? nil : (count > 1 && hasSuffix("/") ? String(dropLast()) : self)
    }
}
