import Foundation
import NablaCore
import Testing

/// Progress of long commands on stderr (a terminal only) and Ctrl-C during them: the
/// progress line through a pseudo-terminal (`script`), nothing on a pipe, and SIGINT in
/// the middle of `attend --dense --out` on the built-in sample (8 heads, N 384; over a
/// second of kernels) ending the process by the signal with no output or stray file left.
@Suite("progress and cancel")
struct ProgressCancelTests {
    static let golden = Fixtures.path("golden/block-1x4x4")

    /// Runs `nabla arguments` under `script` (stdin, stdout and stderr a pseudo-terminal),
    /// with the progress shown from the start; returns what the terminal received.
    static func throughTerminal(_ arguments: [String]) throws -> (status: Int32, text: String) {
        let command = ([NablaProcess.executable.path] + arguments).map { "'" + $0 + "'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qefc", command, "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env["NABLA_PROGRESS_AFTER_MS"] = "0"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("on a terminal: stage, heads, done/total and elapsed, then the line erased",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func terminal() throws {
        let d = Self.golden
        let r = try Self.throughTerminal(["attend", "\(d)/q.npy", "\(d)/k.npy", "\(d)/v.npy", "--block", "1x4x4",
                                          "--threshold", "0.8", "--recall", "--dense"])
        #expect(r.status == 0, "\(r.text)")
        #expect(r.text.contains("\r\u{1B}[Kattend: sparse, heads 0-1, 0/96 query blocks, "), "\(r.text)")
        #expect(r.text.contains("\r\u{1B}[Kattend: dense, heads 0-1, "))
        #expect(r.text.contains("\r\u{1B}[Kattend: recall, heads 0-1, "))
        // Erased before the summary.
        #expect(r.text.contains("\r\u{1B}[Kinput      q.npy + k.npy"), "\(r.text)")
    }

    @Test("on a pipe: nothing on stderr")
    func pipe() throws {
        let d = Self.golden
        for args in [["attend", "\(d)/q.npy", "\(d)/k.npy", "\(d)/v.npy", "--block", "1x4x4", "--threshold", "0.8", "--recall", "--dense"],
                     ["sweep", "\(d)/q.npy", "\(d)/k.npy", "--block", "1x4x4", "--thresholds", "0.5,0.9", "--recall"]] {
            let r = try NablaProcess.run(args, environment: ["NABLA_PROGRESS_AFTER_MS": "0"])
            #expect(r.status == 0 && r.stderr.isEmpty, "\(args[0]): \(r.stderr)")
        }
    }

    @Test("SIGINT during attend --dense --out: ended by the signal, no output, nothing stray")
    func interrupt() throws {
        let root = try Fixtures.temporaryDirectory("attend-int")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out"
        let p = Process()
        p.executableURL = NablaProcess.executable
        p.arguments = ["attend", "--threshold", "0.9", "--dense", "--recall", "--out", out]
        var env = ProcessInfo.processInfo.environment
        env["NABLA_PROGRESS"] = "1"
        env["NABLA_PROGRESS_AFTER_MS"] = "0"
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait for the kernels' progress (the sample is loaded and the mask cut), then Ctrl-C.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("query blocks") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        kill(p.processIdentifier, SIGINT)
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGINT,
                "\(p.terminationReason) \(p.terminationStatus)")
        // The output folder was made before the kernels; it holds nothing, and its parent
        // no stage or temporary entry.
        let inOut = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(inOut.isEmpty, "\(inOut)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).filter { $0 != "out" }.isEmpty)
    }

    @Test("SIGINT while attend writes its outputs leaves the previous set whole")
    func interruptWrite() throws {
        let root = try Fixtures.temporaryDirectory("attend-int-write")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out", d = Self.golden
        let args = ["attend", "\(d)/q.npy", "\(d)/k.npy", "\(d)/v.npy", "--block", "1x4x4", "--dense", "--out", out]
        let first = try NablaProcess.run(args + ["--threshold", "0.3"])
        #expect(first.status == 0, "\(first.stderr)")
        let old = try ["out.npy", "out_dense.npy"].map { try Data(contentsOf: URL(fileURLWithPath: out + "/" + $0)) }
        // Killed by SIGINT after the first of the two files is written.
        let r = try NablaProcess.run(args + ["--threshold", "0.9"],
                                     environment: ["NABLA_TEST_KILL_AFTER_BYTES": "250000", "NABLA_TEST_KILL_SIGNAL": String(SIGINT)])
        #expect(r.status == SIGINT, "\(r.status) \(r.stderr)")
        let now = try ["out.npy", "out_dense.npy"].map { try Data(contentsOf: URL(fileURLWithPath: out + "/" + $0)) }
        #expect(now == old)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["out"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["out.npy", "out_dense.npy"])
    }
}
