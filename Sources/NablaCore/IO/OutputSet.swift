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
/// beside the output (`PARENT/.nabla-new-PID-N`: a short name, so an output whose name
/// is near the file system's limit still has a stage); then that directory takes the
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
/// its parent is not writable, or the file system lacks the exchange), each file is
/// still replaced atomically, in the order given (the caller puts the file that describes
/// the others last), and the set is consistent again as soon as the last rename is done;
/// `replaced` says which way was taken.
///
/// A tree of sets (`replaceTree`, for `mask --all --out`) is replaced whole or not at
/// all, with no file-by-file way: see there and docs/outputs.md.
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
        var names: [String] = []
        var tokens: [Int] = []

        var children: [Stage] = []

        init(path: String, shownDirectory: String) {
            self.path = path
            self.shownDirectory = shownDirectory
        }

        /// Every registration of this stage and of the folders made in it.
        var allTokens: [Int] { tokens + children.flatMap(\.allTokens) }

        /// Makes the folder `name` in the stage (a member of a tree, see `replaceTree`)
        /// and returns the stage that writes into it.
        /// - Throws: `NablaError.writeFailed` naming the output path (`DIR/NAME`).
        public func folder(named name: String) throws -> Stage {
            precondition(!name.contains("/") && !name.hasPrefix("."), "set members are plain names")
            let dir = OutputPath.join(path, name)
            let shown = OutputPath.join(shownDirectory, name)
            guard mkdir(dir, 0o777) == 0 else { throw OutputPath.failure(shown, errno, "cannot create the folder") }
            tokens.append(OutputCleanup.register(dir))
            names.append(name)
            let child = Stage(path: dir, shownDirectory: shown)
            children.append(child)
            return child
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
        try OutputPath.checkNameLength(name, in: parent, for: directory)
        OutputCleanup.removeStale(in: parent)

        let existing = stat(target, &st) == 0
        if existing, (st.st_mode & S_IFMT) != S_IFDIR {
            throw NablaError(.writeFailed, "cannot write \(directory): it exists and is not a directory")
        }
        if existing, let reason = unswappable(target) {
            return try replaceFileByFile(directory: directory, reason: reason, body)
        }

        if existing, access(parent, W_OK | X_OK) != 0 {
            // A writable folder in a parent we may not change: no stage beside it.
            return try replaceFileByFile(directory: directory, reason: "its parent \(parent) is not writable", body)
        }
        let stagePath = OutputCleanup.stageName(in: parent)
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

    /// Writes a tree of outputs as `directory` (created with its parents if needed):
    /// files and folders of files (`Stage.folder(named:)`), replacing the tree there
    /// whole, or leaving it byte for byte as it was.
    ///
    /// The whole tree is written into one stage beside `directory`
    /// (`PARENT/.nabla-new-PID-N`) and put in place by one `rename` when `directory` does
    /// not exist, else by one atomic exchange (`renameat2(RENAME_EXCHANGE)`,
    /// `renamex_np(RENAME_SWAP)`) after which the old tree is removed. Where the file
    /// system has no exchange, the old tree is renamed aside (`PARENT/.nabla-old-PID-N`,
    /// its name noted in `.nabla-old-PID-N.target`) and the new one renamed in; a run
    /// killed between those two renames leaves `directory` absent for that moment, and
    /// the next nabla write into `PARENT` puts the old tree back (`OutputCleanup`).
    ///
    /// What the old tree holds: its entries named by `oldMembers` (called with the
    /// existing directory, e.g. the folders its `model.json` lists) and those the new tree
    /// writes are replaced; other files and links are carried over as hard links; another
    /// folder is refused before `body` runs (nabla never deletes what it did not write),
    /// as are a `directory` that is the working directory (or holds it), a mount point,
    /// or one whose parent is not writable.
    /// - Parameter check: called with the parent before anything is written (e.g. to
    ///   check the members' name lengths against the file system's limit).
    /// - Throws: `NablaError.writeFailed`, one line naming the path and the reason;
    ///   whatever `body` or `check` throws. On any error the old tree is untouched, a new
    ///   `directory` is not made, and the stage is removed.
    /// - Complexity: the writes, one directory listing of the old tree, O(1) renames.
    public static func replaceTree(directory: String, oldMembers: (String) -> Set<String> = { _ in [] },
                                   check: (String) throws -> Void = { _ in }, _ body: (Stage) throws -> Void) throws {
        var target = directory
        var st = stat()
        if lstat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, let real = realpath(directory, nil) {
            target = String(cString: real)
            free(real)
        }
        let (parent, name) = OutputPath.split(target)
        guard name != "." && name != ".." && name != "/" else {
            throw NablaError(.writeFailed, "cannot write \(directory): a folder named \(name) cannot be replaced whole; give a folder inside it")
        }
        try OutputPath.makeDirectories(parent, for: directory)
        try OutputPath.checkNameLength(name, in: parent, for: directory)
        OutputCleanup.removeStale(in: parent)
        guard access(parent, W_OK | X_OK) == 0 else {
            throw NablaError(.writeFailed, "cannot write \(directory): its parent \(parent) is not writable, and the folder is replaced whole from a copy made beside it; make \(parent) writable or choose another folder")
        }
        let existing = stat(target, &st) == 0
        var keep: [String] = []
        if existing {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw NablaError(.writeFailed, "cannot write \(directory): it exists and is not a directory")
            }
            keep = try keptEntries(of: target, old: oldMembers(target), shown: directory)
        }
        try check(parent)

        let stagePath = OutputCleanup.stageName(in: parent)
        let mode = st.st_mode & 0o7777
        try withStage(stagePath, shown: directory, mkdirReason: "cannot create a folder beside it") { stage in
            try body(stage)
            let written = Set(stage.names)
            if existing {
                chmod(stagePath, mode)
                let carried = keep.filter { !written.contains($0) }
                try carryOver(from: target, into: stagePath, only: carried, shown: directory, tokens: &stage.tokens)
            }
            for child in stage.children { OutputPath.syncDirectory(child.path) }
            OutputPath.syncDirectory(stagePath)
            OutputCleanup.testStep()

            if !existing {
                guard rename(stagePath, target) == 0 else {
                    throw OutputPath.failure(directory, errno, "cannot move the new folder into place")
                }
                OutputPath.syncDirectory(parent)
                return
            }
            if exchange(stagePath, target) {
                // stagePath now holds the old tree; withStage removes it.
                OutputPath.syncDirectory(parent)
                return
            }
            try swapAside(stagePath, target, parent: parent, name: name, shown: directory)
        }
    }
}
