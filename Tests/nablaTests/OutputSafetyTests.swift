import Foundation
import NablaCore
import Testing

/// Outputs never destroy earlier results: every writer of the executable (`mask --out`,
/// `sample --out`) is killed at several points of a real write (the test-only hook
/// `NABLA_TEST_KILL_AFTER_BYTES` makes the process kill itself after N bytes), and the
/// previous set must be there, whole and unmixed, with nothing left behind once the next
/// run has tidied up. Slow-ish: about a dozen runs of the built-in sample.
@Suite("outputs survive kills, links and bad paths", .serialized)
struct OutputSafetyTests {
    /// Every file in `dir` (not hidden) and its bytes.
    static func snapshot(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where !name.hasPrefix(".") {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    /// Hidden entries the writers leave beside or inside `out`.
    static func strays(_ root: String, _ out: String) throws -> [String] {
        let beside = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".nabla-") }
        let inside = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0.contains(".nabla-") } ?? []
        return beside + inside
    }

    static let setNames: Set<String> = ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy", "summary.json"]

    @Test("mask --out killed inside each file, between files and before the swap keeps the old set")
    func maskKilled() throws {
        let root = try Fixtures.temporaryDirectory("out-kill")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out"
        let first = try NablaProcess.run(["mask", "--threshold", "0.3", "--out", out])
        #expect(first.status == 0, "\(first.stderr)")
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        let old = try Self.snapshot(out)
        #expect(Set(old.keys) == Self.setNames.union(["notes.txt"]))

        // The new set's files in the order written, and where each ends in the running
        // byte count (measured by writing it elsewhere).
        let probe = root + "/probe"
        #expect(try NablaProcess.run(["mask", "--threshold", "0.9", "--out", probe]).status == 0)
        let new = try Self.snapshot(probe)
        let order = ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy", "summary.json"]
        var ends: [Int] = []
        for name in order { ends.append((ends.last ?? 0) + new[name]!.count) }
        let total = ends.last!
        // In mask.npy, just after it, inside kv_indices, inside summary.json (whose
        // timings make its length vary by a few bytes), and after every byte is written
        // and synced, just before the swap.
        let points = [1, ends[0] / 2, ends[0] + 10, ends[2] - 5, ends[3] + 3, total - 20]
        let kills = points.map { ["NABLA_TEST_KILL_AFTER_BYTES": String($0)] } + [["NABLA_TEST_KILL_AT_STEP": "1"]]
        for env in kills {
            let r = try NablaProcess.run(["mask", "--threshold", "0.9", "--out", out], environment: env)
            #expect(r.status == SIGKILL, "killed at \(env) of \(total) bytes: \(r.status) \(r.stderr)")
            #expect(try Self.snapshot(out) == old, "after a kill at \(env) of \(total) bytes the old set changed")
        }
        // A SIGKILL cannot be cleaned up at once; the next run removes what it left.
        #expect(try !Self.strays(root, out).isEmpty)
        let next = try NablaProcess.run(["mask", "--threshold", "0.9", "--out", out])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try Self.strays(root, out) == [])
        let after = try Self.snapshot(out)
        #expect(after["notes.txt"] == old["notes.txt"])
        #expect(after["mask.npy"] == new["mask.npy"] && after["kv_indices.npy"] == new["kv_indices.npy"])
        #expect(after["mask.npy"] != old["mask.npy"])
        let summary = try #require(try JSONSerialization.jsonObject(with: after["summary.json"]!) as? [String: Any])
        #expect(summary["threshold"] as? Double == 0.9)
    }

    @Test("when the directory swap fails the set is replaced file by file: killed between files, each file is whole (old or new); the next run completes the set")
    func swapFails() throws {
        let root = try Fixtures.temporaryDirectory("out-noswap")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out"
        #expect(try NablaProcess.run(["mask", "--threshold", "0.3", "--out", out]).status == 0)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        let old = try Self.snapshot(out)
        let probe = root + "/probe"
        #expect(try NablaProcess.run(["mask", "--threshold", "0.9", "--out", probe]).status == 0)
        let new = try Self.snapshot(probe)
        // NABLA_TEST_NO_EXCHANGE makes the swap fail as on a file system without it. Step 1
        // is just before the swap, step 2 before the first rename, 3 before the second.
        let killed = try NablaProcess.run(["mask", "--threshold", "0.9", "--out", out],
                                          environment: ["NABLA_TEST_NO_EXCHANGE": "1", "NABLA_TEST_KILL_AT_STEP": "3"])
        #expect(killed.status == SIGKILL, "\(killed.status) \(killed.stderr)")
        let partway = try Self.snapshot(out)
        #expect(partway["mask.npy"] == new["mask.npy"], "the first file is renamed into place")
        for name in Self.setNames.subtracting(["mask.npy"]) {
            #expect(partway[name] == old[name], "\(name) is still the old one, whole")
        }
        #expect(partway["notes.txt"] == old["notes.txt"])
        let done = try NablaProcess.run(["mask", "--threshold", "0.9", "--out", out], environment: ["NABLA_TEST_NO_EXCHANGE": "1"])
        #expect(done.status == 0, "\(done.stderr)")
        let after = try Self.snapshot(out)
        for name in Self.setNames.subtracting(["summary.json"]) { #expect(after[name] == new[name], "\(name)") }
        let summary = try #require(try JSONSerialization.jsonObject(with: after["summary.json"]!) as? [String: Any])
        #expect(summary["threshold"] as? Double == 0.9)
        #expect(after["notes.txt"] == old["notes.txt"])
        #expect(try Self.strays(root, out) == [])
    }

    @Test("SIGTERM or SIGINT in the middle of a write leaves nothing behind", arguments: [SIGTERM, SIGINT])
    func terminated(signal: Int32) throws {
        let root = try Fixtures.temporaryDirectory("out-term")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out"
        let first = try NablaProcess.run(["mask", "--threshold", "0.3", "--out", out])
        #expect(first.status == 0, "\(first.stderr)")
        let old = try Self.snapshot(out)
        let r = try NablaProcess.run(["mask", "--threshold", "0.9", "--out", out],
                                     environment: ["NABLA_TEST_KILL_AFTER_BYTES": "3000000",
                                                   "NABLA_TEST_KILL_SIGNAL": String(signal)])
        #expect(r.status == signal, "\(r.status) \(r.stderr)")
        #expect(try Self.snapshot(out) == old)
        #expect(try Self.strays(root, out) == [])
    }

    @Test("sample --out killed midway keeps the old files and the folder's README")
    func sampleKilled() throws {
        let root = try Fixtures.temporaryDirectory("out-sample")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/Samples"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("readme\n".utf8).write(to: URL(fileURLWithPath: out + "/README.md"))
        try Data("stale".utf8).write(to: URL(fileURLWithPath: out + "/latent.npy"))
        let before = try Self.snapshot(out)
        for point in [100, 3_200_000, 5_000_000] {
            let r = try NablaProcess.run(["sample", "--out", out], environment: ["NABLA_TEST_KILL_AFTER_BYTES": String(point)])
            #expect(r.status == SIGKILL)
            #expect(try Self.snapshot(out) == before)
        }
        let r = try NablaProcess.run(["sample", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let after = try Self.snapshot(out)
        #expect(Set(after.keys) == Set(SampleFiles.entries.map(\.name) + ["README.md"]))
        #expect(after["README.md"] == before["README.md"])
        #expect(after["latent.npy"]!.count == 3_145_856)
        #expect(try Self.strays(root, out) == [])
    }

    @Test("a link in the output folder is replaced, never written through")
    func symlinkNotFollowed() throws {
        let root = try Fixtures.temporaryDirectory("out-link")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out", victim = root + "/precious.txt"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: out + "/mask.npy", withDestinationPath: victim)
        try FileManager.default.createSymbolicLink(atPath: out + "/summary.json", withDestinationPath: victim)
        let r = try NablaProcess.run(["mask", "--threshold", "0.5", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        let attrs = try FileManager.default.attributesOfItem(atPath: out + "/mask.npy")
        #expect(attrs[.type] as? FileAttributeType == .typeRegular)
        #expect(try NPY.read(path: out + "/mask.npy").dtype == .uint8)

        // The library writers too.
        let link = root + "/x.npy"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: victim)
        try NPY.write([Float(1)], shape: [1], to: link)
        try SafetensorsFile.write([("a", .float32, [1], [2])], metadata: [:], to: link)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        #expect(try SafetensorsFile.open(path: link).tensor("a").floats() == [2])
    }

    @Test("bad output paths fail with one line naming the path and the reason")
    func badPaths() throws {
        let root = try Fixtures.temporaryDirectory("out-bad")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = root + "/FILE"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let sub = try NablaProcess.run(["mask", "--threshold", "0.5", "--out", file + "/sub"])
        #expect(sub.status == 1)
        #expect(sub.stderr == "error: cannot write \(file)/sub: \(file) is not a directory\n")
        let deeper = try NablaProcess.run(["sample", "--out", file + "/a/b"])
        #expect(deeper.stderr == "error: cannot write \(file)/a/b: \(file) is not a directory\n")
        let onFile = try NablaProcess.run(["mask", "--threshold", "0.5", "--out", file])
        #expect(onFile.stderr == "error: cannot write \(file): it exists and is not a directory\n")
        for r in [sub, deeper, onFile] {
            #expect(!r.stderr.contains("NSCocoaErrorDomain"))
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "x")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["FILE"])
    }

    @Test("an output folder holding a subfolder is replaced file by file, keeping the subfolder")
    func fileByFile() throws {
        let root = try Fixtures.temporaryDirectory("out-sub")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let out = root + "/out"
        try FileManager.default.createDirectory(atPath: out + "/runs", withIntermediateDirectories: true)
        try Data("1".utf8).write(to: URL(fileURLWithPath: out + "/runs/a.txt"))
        let r = try NablaProcess.run(["mask", "--threshold", "0.5", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: out))
        #expect(names == Self.setNames.union(["runs"]))
        #expect(FileManager.default.fileExists(atPath: out + "/runs/a.txt"))
        #expect(try Self.strays(root, out) == [])
    }
}
