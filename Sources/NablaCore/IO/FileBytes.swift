#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Where a tensor reader gets bytes: a file read on demand, or bytes already in memory.
///
/// `bytes(_:)` returns memory that nabla owns, kept alive by the returned owner: never a
/// mapping of the file. A file truncated or rewritten on disk while nabla holds its
/// tensors (`np.save` rewriting a dump) therefore cannot crash nabla (with `mmap`, a
/// page past the new end of file raises SIGBUS); a change during a read is an error.
public protocol ByteSource: AnyObject, Sendable {
    /// The name used in messages.
    var path: String { get }
    /// Size in bytes when opened.
    var size: Int { get }
    /// Bytes `range` (within `0..<size`) and the object that keeps them alive.
    /// - Throws: `NablaError.fileUnreadable` when the file cannot be read or changed.
    func bytes(_ range: Range<Int>) throws -> (UnsafeRawBufferPointer, AnyObject)
    /// `bytes(range)`, counting each chunk read on `progress` (as the data of `tensor`)
    /// and stopping when it says so.
    /// - Throws: as `bytes(_:)`; `NablaError.cancelled` when `progress` stopped the read.
    func bytes(_ range: Range<Int>, progress: ReadProgress?, tensor: String) throws -> (UnsafeRawBufferPointer, AnyObject)
    /// Copies bytes `range` (within `0..<size`) into `dst`, which holds `range.count`
    /// bytes; for reading parts of a tensor into memory the caller owns (`HeadRead`).
    /// - Throws: as `bytes(_:)`.
    func read(_ range: Range<Int>, into dst: UnsafeMutableRawPointer) throws
}

extension ByteSource {
    /// Bytes already in memory: one step.
    public func bytes(_ range: Range<Int>, progress: ReadProgress?, tensor: String) throws -> (UnsafeRawBufferPointer, AnyObject) {
        if progress?.shouldStop == true { throw ReadProgress.cancelled(tensor) }
        let result = try bytes(range)
        if let progress, !progress.advance(range.count, of: tensor) { throw ReadProgress.cancelled(tensor) }
        return result
    }
}

extension ByteSource {
    /// By way of `bytes(_:)`: one copy more than a file's own `read(_:into:)`.
    public func read(_ range: Range<Int>, into dst: UnsafeMutableRawPointer) throws {
        let (bytes, owner) = try bytes(range)
        withExtendedLifetime(owner) {
            if let base = bytes.baseAddress { dst.copyMemory(from: base, byteCount: range.count) }
        }
    }
}

/// Memory nabla allocated and owns (64-byte aligned), freed with the last reference.
///
/// Plain allocations, not huge pages: `madvise(MADV_HUGEPAGE)` on the buffer was measured
/// and made reading a 2 GB input slower on this project's (virtual) machine, the kernel
/// zeroing each fresh 2 MB page taking 62% of a `nabla mask` run against 5% for small
/// pages (perf, issue 8).
public final class OwnedBytes: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer

    init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        do { try fill(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])) } catch {
            buffer.deallocate()
            throw error
        }
        bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
    }

    deinit {
        UnsafeMutableRawBufferPointer(mutating: bytes).deallocate()
    }
}

/// A regular file opened for reading; ranges are read with `pread` into `OwnedBytes`.
///
/// Why not `mmap`: a mapped file that shrinks raises SIGBUS on the next access, which no
/// check before the access can rule out (the file can change between the check and the
/// access). Reading costs one copy (about 0.1 s per GB from the page cache) and memory
/// for the tensors actually used; headers are read alone, so `nabla info` on a large
/// checkpoint reads the header and the chosen tensors, not the whole file.
public final class FileBytes: ByteSource, @unchecked Sendable {
    public let path: String
    public let size: Int
    private let fd: Int32
    /// Modification time when opened, to notice a rewrite of the same size.
    private let modified: timespec

    /// Opens `path`.
    /// - Throws: `NablaError.fileUnreadable` naming the path and the system's reason, or
    ///   saying it is not a regular file.
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as
        // not a regular file); it has no effect on regular files.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw NablaError(.fileUnreadable, "\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw NablaError(.fileUnreadable, "\(path): cannot stat: \(reason)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw NablaError(.fileUnreadable, "\(path): not a regular file")
        }
        self.fd = fd
        size = Int(st.st_size)
        modified = FileBytes.mtime(st)
    }

    deinit {
        close(fd)
    }

    private static func mtime(_ st: stat) -> timespec {
        #if canImport(Darwin)
        st.st_mtimespec
        #else
        st.st_mtim
        #endif
    }

    /// Reads `range`; the file must still be as it was when opened.
    /// - Throws: `NablaError.fileUnreadable` when a read fails, or the file shrank or was
    ///   modified since it was opened ("changed on disk").
    public func bytes(_ range: Range<Int>) throws -> (UnsafeRawBufferPointer, AnyObject) {
        try bytes(range, progress: nil, tensor: path)
    }

    /// Chunks read at once, and the unit of progress reports and cancel polls (tests
    /// make it small to read a small file in many chunks).
    static let defaultChunkSize = 32 << 20
    @TaskLocal static var chunkSize = defaultChunkSize

    /// Reads `range` in chunks of `chunkSize`, on all cores when there are several
    /// chunks (`pread` at independent offsets), straight into the owned buffer; the file
    /// must still be as it was when opened.
    /// - Throws: `NablaError.fileUnreadable` when a read fails, or the file shrank or was
    ///   modified since it was opened ("changed on disk"); `.cancelled` when `progress`
    ///   stopped it (the buffer is freed).
    /// - Complexity: O(range.count), one copy; the page faults of the fresh buffer are
    ///   taken on all cores too.
    public func bytes(_ range: Range<Int>, progress: ReadProgress?, tensor: String) throws -> (UnsafeRawBufferPointer, AnyObject) {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "read outside the file")
        if progress?.shouldStop == true { throw ReadProgress.cancelled(tensor) }
        FileBytes.readCounter?.add(range.count)
        let chunk = max(FileBytes.chunkSize, 1)
        let owned = try OwnedBytes(count: range.count) { dst in
            let chunks = (dst.count + chunk - 1) / chunk
            let failure = FirstError()
            let base = UncheckedSendable(dst.baseAddress)
            Parallel.forEach(chunks) { c in
                if failure.isSet { return }
                let start = c * chunk, end = min(start + chunk, dst.count)
                do {
                    try readFully(into: base.value! + start, count: end - start, at: range.lowerBound + start)
                    if let progress, !progress.advance(end - start, of: tensor) { throw ReadProgress.cancelled(tensor) }
                } catch {
                    failure.record(error)
                }
            }
            if let error = failure.error { throw error }
        }
        var st = stat()
        if fstat(fd, &st) != 0 || Int(st.st_size) != size || FileBytes.mtime(st) != modified {
            throw changed()
        }
        return (owned.bytes, owned)
    }

    /// `pread`s `range` straight into `dst` on the calling thread; the file must still be
    /// as it was when opened.
    /// - Throws: `NablaError.fileUnreadable` when the read fails or the file changed.
    public func read(_ range: Range<Int>, into dst: UnsafeMutableRawPointer) throws {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "read outside the file")
        FileBytes.readCounter?.add(range.count)
        try readFully(into: dst, count: range.count, at: range.lowerBound)
        var st = stat()
        if fstat(fd, &st) != 0 || Int(st.st_size) != size || FileBytes.mtime(st) != modified {
            throw changed()
        }
    }

    /// `pread`s exactly `count` bytes at `offset` into `dst`.
    private func readFully(into dst: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
        var done = 0
        while done < count {
            let n = pread(fd, dst + done, min(count - done, 1 << 30), off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw NablaError(.fileUnreadable, "\(path): read failed at byte \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw changed() }
            done += n
        }
    }

    /// Counts the bytes `FileBytes` reads on the current task, for tests that check a
    /// path reads headers only or each tensor's data once.
    final class ReadCounter: @unchecked Sendable {
        private let lock = NSLock()
        private var total = 0
        private(set) var reads: [Int] = []
        func add(_ n: Int) { lock.withLock { total += n; reads.append(n) } }
        var bytes: Int { lock.withLock { total } }
    }
    @TaskLocal static var readCounter: ReadCounter?

    private func changed() -> NablaError {
        var st = stat()
        let now = fstat(fd, &st) == 0 ? "\(st.st_size) bytes now" : "unreadable now"
        return NablaError(.fileUnreadable, "\(path): changed on disk while nabla was reading it (\(size) bytes when opened, \(now)); open it again")
    }
}

private func != (a: timespec, b: timespec) -> Bool { a.tv_sec != b.tv_sec || a.tv_nsec != b.tv_nsec }

/// Bytes already in memory (tests, and readers of archive members).
public final class MemoryBytes: ByteSource, @unchecked Sendable {
    public let path: String
    public let size: Int
    private let base: UnsafeRawBufferPointer
    private let owner: AnyObject?

    /// `bytes` stays valid while `owner` lives.
    public init(_ bytes: UnsafeRawBufferPointer, path: String, owner: AnyObject?) {
        self.path = path
        self.base = bytes
        self.size = bytes.count
        self.owner = owner
    }

    public func bytes(_ range: Range<Int>) throws -> (UnsafeRawBufferPointer, AnyObject) {
        (UnsafeRawBufferPointer(rebasing: base[range]), owner ?? self)
    }
}

/// A whole file read into memory nabla owns, for readers that walk a container (ZIP
/// archives: `.npz`, `torch.save`). Like `FileBytes`, never a mapping: a change on disk
/// after reading cannot crash nabla; a change during the read is an error.
public final class WholeFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes; valid for the lifetime of `self`.
    public let bytes: UnsafeRawBufferPointer
    private let storage: AnyObject

    /// Reads `path` whole.
    /// - Throws: `NablaError.fileUnreadable` naming the path and the system's reason.
    public convenience init(path: String) throws {
        try self.init(FileBytes(path: path))
    }

    public init(_ source: ByteSource) throws {
        path = source.path
        (bytes, storage) = try source.bytes(0..<source.size)
    }
}

/// The first error of several parallel workers.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Error?
    var isSet: Bool { lock.withLock { first != nil } }
    var error: Error? { lock.withLock { first } }
    func record(_ error: Error) { lock.withLock { if first == nil { first = error } } }
}
