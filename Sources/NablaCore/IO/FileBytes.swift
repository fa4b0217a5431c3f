#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
}

/// Memory nabla allocated and owns (64-byte aligned), freed with the last reference.
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
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "read outside the file")
        let owned = try OwnedBytes(count: range.count) { dst in
            var done = 0
            while done < dst.count {
                let n = pread(fd, dst.baseAddress! + done, min(dst.count - done, 1 << 30), off_t(range.lowerBound + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw NablaError(.fileUnreadable, "\(path): read failed at byte \(range.lowerBound + done): \(String(cString: strerror(errno)))")
                }
                if n == 0 { throw changed() }
                done += n
            }
        }
        var st = stat()
        if fstat(fd, &st) != 0 || Int(st.st_size) != size || FileBytes.mtime(st) != modified {
            throw changed()
        }
        return (owned.bytes, owned)
    }

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
