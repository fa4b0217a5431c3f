import Foundation
import NablaCore
import Testing

/// Issue 19, item 1: `--head-select` reads only the selected heads' bytes, so every command
/// that accepts it runs on one head of a large file in memory well below the file's size.
/// Peak resident memory is the child's own (`wait4`'s `ru_maxrss`), not this process's.
@Suite("--head-select memory on every command", .serialized,
       .enabled(if: PeakRSS.python || ProcessInfo.processInfo.environment["CI"] == "true", "python3 measures the peak"))
struct HeadSelectMemoryTests {
    /// Runs `nabla arguments` and returns its exit status and peak resident set in bytes,
    /// measured by a Python parent (`getrusage(RUSAGE_CHILDREN)` after its only child): a
    /// child spawned from this process by vfork (as `posix_spawn` and Foundation do) would
    /// count this test process's own peak, which Linux carries into the child at exec.
    static func peak(_ arguments: [String]) throws -> (status: Int32, bytes: Int) {
        let code = """
        import resource, subprocess, sys
        r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", code, NablaProcess.executable.path] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let words = String(decoding: data, as: UTF8.self).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard words.count == 2 else { throw NablaError(.badArgument, "python3 did not report the peak: \(String(decoding: data, as: UTF8.self))") }
        return (Int32(words[0]), words[1] * 1024)
    }


    @Test("one head of a 32-head safetensors file: every command peaks well below the file's size", .timeLimit(.minutes(3)))
    func everyCommandOneHead() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // q, k, v float32 [1, S, 32, 128] (diffusers' layout, heads interleaved) on grid
        // 2x32x32: 2048 tokens, 32 MiB a tensor, 96 MiB in all.
        let heads = 32, grid = TokenGrid(t: 2, h: 32, w: 32), d = 128
        let count = heads * grid.tokens * d
        func values(_ seed: Double) -> [Float] {
            (0..<count).map { (i: Int) -> Float in
                let a: Double = sin(Double(i) * 0.0007 * seed)
                let b: Double = cos(Double(i % 251) * 0.1)
                return Float(a + b)
            }
        }
        let shape = [1, grid.tokens, heads, d]
        let path = dir + "/layer.safetensors"
        try SafetensorsFile.write([("q", .float32, shape, values(1)), ("k", .float32, shape, values(2)), ("v", .float32, shape, values(3))],
                                  metadata: ["grid": grid.description, "order": "raster"], to: path)
        let fileBytes = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let runs = HeadSelectEveryCommandTests.runs([path], dir: dir)
        var baseline = Int.max
        for arguments in [["info", path]] { baseline = min(baseline, try Self.peak(arguments).bytes) }
        for (name, arguments) in runs.sorted(by: { $0.key < $1.key }) where !arguments.isEmpty {
            let one = arguments.map { $0 == "1,3" ? "0" : $0 }
            let (status, bytes) = try Self.peak(one)
            #expect(status == 0, "\(name) exited \(status)")
            // One head is 1/32 of the data: its bytes read and worked on stay far below the
            // file over what the process holds before reading any (nabla info's peak).
            #expect(bytes - baseline < fileBytes / 3, "\(name) --head-select 0 peaked at \(bytes >> 20) MiB over \(baseline >> 20) MiB for a \(fileBytes >> 20) MiB file")
        }
        // The whole file, for contrast: diff holds all of Q and K.
        let all = try Self.peak(["diff", "thr=0.9", "thr=0.5", path, "--json"])
        #expect(all.status == 0)
        #expect(all.bytes - baseline > fileBytes / 2, "diff of all heads peaked at \(all.bytes >> 20) MiB")
        // mask does not: it reads, checks and pools Q and K (64 MiB) a slab (here one frame,
        // 16 MiB) per core at a time (StreamedPool).
        let mask = try Self.peak(["mask", path, "--threshold", "0.7"])
        #expect(mask.status == 0)
        #expect(mask.bytes - baseline < fileBytes / 2, "mask of all heads peaked at \(mask.bytes >> 20) MiB")
    }
}

/// Whether python3 can measure a child's peak resident set.
enum PeakRSS {
    static let python: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import resource, subprocess"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()
}
