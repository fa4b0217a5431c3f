#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A self-pipe: background jobs and signal handlers write a byte, the main loop's
/// `poll` wakes up. Byte 0 means "a job finished"; any other byte is a signal number.
final class WakePipe: Sendable {
    let readFD: Int32
    let writeFD: Int32
    static let jobDone: UInt8 = 0

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw TerminalError("cannot create a pipe: errno \(errno)") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Wakes the main loop (from any thread).
    func wake(_ byte: UInt8 = WakePipe.jobDone) {
        var b = byte
        _ = write(writeFD, &b, 1)
    }

    /// Every byte written since the last drain.
    func drain() -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(readFD, &buffer, buffer.count)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}
