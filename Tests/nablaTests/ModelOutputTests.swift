import Foundation
import NablaCore
import Testing

/// `nabla mask DIR --all --out OUT` as one all-or-nothing set (issue 22, items 7-9):
/// failures met in the real world (a truncated pair midway, a file name the file system
/// refuses, a kill before the swap) leave an earlier OUT byte for byte as it was and a
/// new OUT absent; a smaller run replaces the set whole; pair folders never clash; paths
/// are printed escaped.
@Suite("mask --all --out: the whole set at once", .serialized)
struct ModelOutputTests {
    static let shape = [1, 2, 16, 16, 8]

    /// Writes pairs `PREFIX.q.npy` / `PREFIX.k.npy` into `dir`, each with its own values.
    static func writeDump(_ dir: String, prefixes: [String]) throws {
        let count = shape.reduce(1, *)
        for (i, p) in prefixes.enumerated() {
            let q = (0..<count).map { Float(sin(Double($0) * (0.37 + 0.05 * Double(i)))) }
            let k = (0..<count).map { Float(cos(Double($0) * (0.11 + 0.03 * Double(i)))) }
            try NPY.write(q, shape: shape, to: "\(dir)/\(p).q.npy")
            try NPY.write(k, shape: shape, to: "\(dir)/\(p).k.npy")
        }
    }

    /// Every file under `dir` (hidden ones too) by relative path, with its bytes; folders
    /// as `PATH/`.
    static func tree(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        func walk(_ rel: String) throws {
            let full = rel.isEmpty ? dir : dir + "/" + rel
            for name in try FileManager.default.contentsOfDirectory(atPath: full) {
                let r = rel.isEmpty ? name : rel + "/" + name
                var isDir: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: dir + "/" + r, isDirectory: &isDir)
                if isDir.boolValue {
                    out[r + "/"] = Data()
                    try walk(r)
                } else {
                    out[r] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + r))
                }
            }
        }
        try walk("")
        return out
    }

    /// Hidden entries of nabla's beside `out` (in `root`).
    static func strays(_ root: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains(".nabla-") }
    }

    static func modelJSON(_ out: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/model.json"))) as? [String: Any] ?? [:]
    }

    @Test("a run failing at a pair midway leaves the earlier set byte-identical, and a new --out absent")
    func failureMidway() throws {
        let root = try Fixtures.temporaryDirectory("all-fail")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump", out = root + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        let prefixes = (0..<6).map { "p\($0)" }
        try Self.writeDump(dump, prefixes: prefixes)
        let first = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", out])
        #expect(first.status == 0, "\(first.stderr)")
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        let old = try Self.tree(out)
        #expect(old.keys.filter { $0.hasSuffix("/") }.count == 6)

        // Pair p4's K holds a NaN (a real dump of a diverged step): found when p4 is read,
        // after p0-p3 were computed and written.
        var k = try NPY.read(path: dump + "/p4.k.npy").floats()
        k[100] = .nan
        try NPY.write(k, shape: Self.shape, to: dump + "/p4.k.npy")
        let failed = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out])
        MaskCommandTests.expectError(failed, contains: "p4.k.npy: non-finite value nan")
        #expect(try Self.tree(out) == old, "the old set changed after a failed run")
        #expect(try Self.strays(root) == [])

        let fresh = root + "/fresh"
        let failedNew = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", fresh])
        #expect(failedNew.status == 1)
        #expect(!FileManager.default.fileExists(atPath: fresh))
        #expect(try Self.strays(root) == [])
    }

    @Test("a write that fails midway (a file larger than the process may write, as on a full disk) leaves the earlier set byte-identical")
    func writeFailsMidway() throws {
        let root = try Fixtures.temporaryDirectory("all-full")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump", out = root + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["a", "b", "c"])
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", out]).status == 0)
        let old = try Self.tree(out)
        // Pair d's mask.npy is 64 KB and more (N = 256); with the file size limit at 64 KB
        // (SIGXFSZ ignored, so write() fails with EFBIG) its write fails after a, b and c.
        let big = [1, 4, 64, 64, 8], count = big.reduce(1, *)
        try NPY.write((0..<count).map { Float(sin(Double($0) * 0.3)) }, shape: big, to: dump + "/d.q.npy")
        try NPY.write((0..<count).map { Float(cos(Double($0) * 0.7)) }, shape: big, to: dump + "/d.k.npy")
        let limited = ["/bin/sh", "-c", "trap '' XFSZ; ulimit -f 128; exec \"$0\" \"$@\""]
        let r = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out], launcher: limited)
        MaskCommandTests.expectError(r, contains: "cannot write \(out)/d/mask.npy: write failed after 65536 bytes: File too large")
        #expect(try Self.tree(out) == old)
        #expect(try Self.strays(root) == [])
    }

    @Test("SIGTERM in the middle of a set's write leaves the old set and nothing behind")
    func terminated() throws {
        let root = try Fixtures.temporaryDirectory("all-term")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump", out = root + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["a", "b", "c"])
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", out]).status == 0)
        let old = try Self.tree(out)
        // Each pair's five files are about 1.9 KB: killed in the third pair.
        let r = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out],
                                     environment: ["NABLA_TEST_KILL_AFTER_BYTES": "4500", "NABLA_TEST_KILL_SIGNAL": String(SIGTERM)])
        #expect(r.status == SIGTERM, "\(r.status) \(r.stderr)")
        #expect(try Self.tree(out) == old)
        #expect(try Self.strays(root) == [])
    }

    @Test("a smaller successful run replaces the set whole: no old pair folders beside the new model.json; the user's files stay")
    func smallerRunReplacesWhole() throws {
        let root = try Fixtures.temporaryDirectory("all-smaller")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump", out = root + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["a", "b", "c", "d"])
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", out]).status == 0)
        try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        for p in ["c", "d"] {
            try FileManager.default.removeItem(atPath: "\(dump)/\(p).q.npy")
            try FileManager.default.removeItem(atPath: "\(dump)/\(p).k.npy")
        }
        let r = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == ["a", "b", "model.json", "notes.txt"])
        #expect(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8) == "mine\n")
        let pairs = try Self.modelJSON(out)["pairs"] as? [[String: Any]]
        #expect(pairs?.compactMap { $0["directory"] as? String } == ["a", "b"])
        #expect(try Self.strays(root) == [])

        // A folder in --out that no earlier output lists is the user's: refused before any
        // work, nothing changed.
        try FileManager.default.createDirectory(atPath: out + "/runs", withIntermediateDirectories: true)
        let before = try Self.tree(out)
        let refused = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.7", "--out", out])
        MaskCommandTests.expectError(refused, contains: "it holds the folder runs, which is not part of an earlier output there")
        #expect(try Self.tree(out) == before)
    }

    @Test("a successful run writes what it wrote before, byte for byte (folders, names, model.json but its timings)")
    func sameBytesAsOneByOne() throws {
        let root = try Fixtures.temporaryDirectory("all-same")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump", out = root + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["blocks.0.step10", "blocks.1.step10"])
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.8", "--out", out]).status == 0)
        // Each pair's folder holds the files a single-pair run writes for that pair.
        for p in ["blocks.0.step10", "blocks.1.step10"] {
            let one = root + "/one-" + p
            let r = try NablaProcess.run(["mask", "\(dump)/\(p).q.npy", "\(dump)/\(p).k.npy", "--threshold", "0.8", "--out", one])
            #expect(r.status == 0, "\(r.stderr)")
            for name in ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy"] {
                #expect(FileManager.default.contents(atPath: "\(out)/\(p)/\(name)") == FileManager.default.contents(atPath: "\(one)/\(name)"),
                        "\(p)/\(name)")
            }
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == ["blocks.0.step10", "blocks.1.step10", "model.json"])
    }

    @Test("pairs a/b and a_b, ..q and _..q, and a pair named model.json get folders of their own")
    func foldersNeverClash() throws {
        let root = try Fixtures.temporaryDirectory("all-clash")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = root + "/model.safetensors", out = root + "/out"
        let shape = [1, 2, 32, 32, 8]
        let count = shape.reduce(1, *)
        var items: [SafetensorsFile.Item] = []
        for (i, p) in ["a/b", "a_b", ".", "_.", "model.json", "_", ""].enumerated() {
            // Different random values per pair, so densities differ and a mix-up shows.
            var state = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
            func next() -> Float {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Double(state >> 11) / Double(1 << 53) * 2 - 1) * Float(1 + i)
            }
            let q = (0..<count).map { _ in next() }
            let k = (0..<count).map { _ in next() }
            let name = p.isEmpty ? "" : p + "."
            items.append((name + "q", .float32, shape, q))
            items.append((name + "k", .float32, shape, k))
        }
        try SafetensorsFile.write(items, metadata: [:], to: file)
        let r = try NablaProcess.run(["mask", file, "--all", "--threshold", "0.6", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let expected = ["a%2Fb", "a_b", "%2E", "_.", "model%2Ejson", "%5F", "_"]
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == Set(expected + ["model.json"]))
        let pairs = try Self.modelJSON(out)["pairs"] as? [[String: Any]] ?? []
        #expect(pairs.compactMap { $0["directory"] as? String } == expected)
        // model.json's density of each pair is the density of the files in its folder.
        for p in pairs {
            let dir = out + "/" + (p["directory"] as? String ?? "?")
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as? [String: Any]
            let mask = try NPY.read(path: dir + "/mask.npy")
            let kept = mask.bytes.reduce(0) { $0 + Int($1) }
            let density = Double(kept) / Double(mask.shape.reduce(1, *))
            #expect(abs(density - (p["density"] as? Double ?? -1)) < 1e-12, "\(dir)")
            #expect(firstJSONNumber(named: "density", in: String(decoding: try JSONSerialization.data(withJSONObject: summary ?? [:]), as: UTF8.self)) != nil)
        }
        let densities = Set(pairs.compactMap { $0["density"] as? Double })
        #expect(densities.count > 1, "the pairs should differ")
    }

    @Test("names near the file system's limit: a 250-byte --out and pair fit (the stage's name is short); a 300-byte pair is refused before any work")
    func longNames() throws {
        let root = try Fixtures.temporaryDirectory("all-long")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let long = String(repeating: "x", count: 250)
        let file = root + "/m.safetensors"
        let count = Self.shape.reduce(1, *)
        let values = (0..<count).map { Float(sin(Double($0) * 0.3)) }
        try SafetensorsFile.write([(long + ".q", .float32, Self.shape, values), (long + ".k", .float32, Self.shape, values)],
                                  metadata: [:], to: file)
        let out = root + "/" + long
        let r = try NablaProcess.run(["mask", file, "--all", "--threshold", "0.6", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: "\(out)/\(long)/mask.npy"))
        // Again over it (the exchange), and a single pair's set in a 250-byte folder.
        #expect(try NablaProcess.run(["mask", file, "--all", "--threshold", "0.5", "--out", out]).status == 0)
        let single = try NablaProcess.run(["mask", file + ":" + long, "--threshold", "0.5", "--out", root + "/y" + long.dropFirst()])
        #expect(single.status == 0, "\(single.stderr)")
        #expect(try Self.strays(root) == [])

        let tooLong = String(repeating: "z", count: 300)
        let file2 = root + "/m2.safetensors"
        try SafetensorsFile.write([(tooLong + ".q", .float32, Self.shape, values), (tooLong + ".k", .float32, Self.shape, values),
                                   ("ok.q", .float32, Self.shape, values), ("ok.k", .float32, Self.shape, values)],
                                  metadata: [:], to: file2)
        let before = try Self.tree(out)
        let refused = try NablaProcess.run(["mask", file2, "--all", "--threshold", "0.6", "--out", out])
        MaskCommandTests.expectError(refused, contains: "is 300 bytes, more than the 255 the file system allows")
        #expect(try Self.tree(out) == before)
        let refusedNew = try NablaProcess.run(["mask", file2, "--all", "--threshold", "0.6", "--out", root + "/new"])
        #expect(refusedNew.status == 1)
        #expect(!FileManager.default.fileExists(atPath: root + "/new"))
        // An --out whose own name is too long: refused up front too, for a tree and a set.
        for args in [[file, "--all"], [file + ":" + long]] {
            let r = try NablaProcess.run(["mask"] + args + ["--threshold", "0.6", "--out", root + "/" + tooLong])
            MaskCommandTests.expectError(r, contains: "cannot write \(root)/\(tooLong): its name is 300 bytes, more than the 255 the file system allows")
        }
        #expect(try Self.strays(root) == [])
    }

    @Test("killed before the swap, or between moving the old set aside and the new one in, the old set survives; the next write tidies and restores")
    func killedAtTheSwap() throws {
        let root = try Fixtures.temporaryDirectory("all-kill")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump", out = root + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["a", "b", "c"])
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", out]).status == 0)
        let old = try Self.tree(out)

        // Inside the first pair's files, in a later pair's, and after everything is
        // written and synced.
        // (The three pairs' files are about 3 KB in all.)
        for env in [["NABLA_TEST_KILL_AFTER_BYTES": "300"], ["NABLA_TEST_KILL_AFTER_BYTES": "2000"], ["NABLA_TEST_KILL_AT_STEP": "1"]] {
            let r = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out], environment: env)
            #expect(r.status == SIGKILL, "\(env): \(r.status) \(r.stderr)")
            #expect(try Self.tree(out) == old, "\(env)")
            #expect(try Self.strays(root).count >= 1, "the killed run's stage stays until the next write")
        }
        // The next write into the same parent removes the dead run's stage (with its folders).
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", root + "/other"]).status == 0)
        #expect(try Self.strays(root) == [])

        // Without the exchange: killed between the two renames, --out is absent for that
        // moment; the next write into the parent puts the old set back, byte for byte.
        let aside = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out],
                                         environment: ["NABLA_TEST_NO_EXCHANGE": "1", "NABLA_TEST_KILL_AT_STEP": "2"])
        #expect(aside.status == SIGKILL, "\(aside.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.9", "--out", root + "/other"]).status == 0)
        #expect(try Self.tree(out) == old)
        #expect(try Self.strays(root) == [])
        // And without the exchange, not killed: replaced whole.
        let noExchange = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out],
                                              environment: ["NABLA_TEST_NO_EXCHANGE": "1"])
        #expect(noExchange.status == 0, "\(noExchange.stderr)")
        #expect(try Self.modelJSON(out)["threshold"] as? Double == 0.5)
        #expect(try Self.strays(root) == [])
    }

    @Test("a writable --out in a parent nabla may not write: one set works (file by file), --all is refused up front",
          .enabled(if: getuid() != 0 || PermissionTests.setpriv != nil, "running as root without setpriv"))
    func unwritableParent() throws {
        let root = try Fixtures.temporaryDirectory("all-parent")
        defer { try? FileManager.default.removeItem(atPath: root) }
        chmod(root, 0o755)
        let dump = root + "/dump", parent = root + "/parent", out = parent + "/out"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["a", "b"])
        chmod(dump, 0o755)
        chmod(out, 0o777)
        chmod(parent, 0o555)
        defer { chmod(parent, 0o755) }
        let asNobody = getuid() == 0 ? PermissionTests.setpriv.map { [$0, "--reuid=65534", "--regid=65534", "--clear-groups"] } ?? [] : []
        let one = try NablaProcess.run(["mask", "\(dump)/a.q.npy", "\(dump)/a.k.npy", "--threshold", "0.5", "--out", out], launcher: asNobody)
        #expect(one.status == 0, "\(one.stderr)")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == OutputSafetyTests.setNames)
        let all = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", parent + "/new"], launcher: asNobody)
        MaskCommandTests.expectError(all, contains: "its parent \(parent) is not writable")
        #expect(!FileManager.default.fileExists(atPath: parent + "/new"))
    }

    @Test("a lone b.q.npy in a folder dump is reported in one line naming it, by mask --all and info")
    func lonePairMember() throws {
        let root = try Fixtures.temporaryDirectory("all-lone")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/dump"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["a", "b"])
        try FileManager.default.removeItem(atPath: dump + "/b.k.npy")
        let r = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr == "warning: \(dump)/b.q.npy: tensor b.q has no b.k beside it; not a Q/K pair, skipped\n")
        #expect(r.stdout.contains("(1 Q/K pairs)"))
        let info = try NablaProcess.run(["info", dump])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("unpaired   \(dump)/b.q.npy: tensor b.q has no b.k"))
    }

    @Test("file names holding ESC and a newline are printed escaped by info, mask and an error")
    func escapedPaths() throws {
        let root = try Fixtures.temporaryDirectory("all-esc")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dump = root + "/d\u{1b}[31m\nx"
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        try Self.writeDump(dump, prefixes: ["p\u{1b}[31m\n"])
        let shownDump = root + "/d\\u{1B}[31m\\nx"
        func clean(_ r: NablaProcess.Result, _ what: String) {
            #expect(!r.stdout.contains("\u{1b}") && !r.stderr.contains("\u{1b}"), "\(what): raw ESC printed")
        }
        let info = try NablaProcess.run(["info", dump])
        #expect(info.status == 0, "\(info.stderr)")
        clean(info, "info")
        #expect(info.stdout.contains("folder     \(shownDump) "))
        let infoFile = try NablaProcess.run(["info", dump + "/p\u{1b}[31m\n.q.npy"])
        clean(infoFile, "info FILE")
        #expect(infoFile.stdout.split(separator: "\n").first == "file       \(shownDump)/p\\u{1B}[31m\\n.q.npy (npy, \(128 + 4 * Self.shape.reduce(1, *)) bytes)")
        let out = root + "/o\u{1b}]0;x\u{07}"
        let mask = try NablaProcess.run(["mask", dump, "--all", "--threshold", "0.5", "--out", out])
        #expect(mask.status == 0, "\(mask.stderr)")
        clean(mask, "mask --all")
        #expect(mask.stdout.contains("input      \(shownDump) (1 Q/K pairs)"))
        #expect(mask.stdout.contains("to \(root)/o\\u{1B}]0;x\\u{7}"))
        #expect(FileManager.default.fileExists(atPath: out + "/p%1B[31m%0A/mask.npy"))
        let one = try NablaProcess.run(["mask", dump + "/p\u{1b}[31m\n.q.npy", dump + "/p\u{1b}[31m\n.k.npy", "--threshold", "0.5"])
        clean(one, "mask")
        #expect(one.stdout.hasPrefix("input      p\\u{1B}[31m\\n.q.npy + p\\u{1B}[31m\\n.k.npy"))
        let missing = try NablaProcess.run(["mask", dump + "/gone\u{1b}[2J\n.npy", dump + "/p\u{1b}[31m\n.k.npy", "--threshold", "0.5"])
        MaskCommandTests.expectError(missing, contains: "gone\\u{1B}[2J\\n.npy")
        clean(missing, "error")
    }
}
