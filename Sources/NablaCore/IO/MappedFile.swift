#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (`mmap`, `MAP_PRIVATE`).
///
/// Tensor readers hand out views into `bytes`; every view keeps the `MappedFile` alive
/// through its `owner`. The mapping is released in `deinit`. An empty file has an empty
/// `bytes` and no mapping.
public final class MappedFile: @unchecked Sendable {
    /// The path as given, used in error messages.
    public let path: String
    /// The file's bytes; valid for the lifetime of `self`.
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`.
    /// - Throws: `NablaError.fileUnreadable` naming the path and the system's reason.
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as
        // not a regular file); it has no effect on regular files.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw NablaError(.fileUnreadable, "\(path): cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw NablaError(.fileUnreadable, "\(path): cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw NablaError(.fileUnreadable, "\(path): not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw NablaError(.fileUnreadable, "\(path): cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
