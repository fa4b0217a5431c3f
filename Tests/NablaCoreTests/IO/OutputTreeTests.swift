import Foundation
@testable import NablaCore
import Testing

/// The pieces of issue 22's items 7-9 in the library: pair folder names one to one,
/// `OutputSet.replaceTree` all or nothing, stale stages tidied (and an old tree moved
/// aside put back), and `Shown` for printed paths.
@Suite("Output trees, folder names and printed paths")
struct OutputTreeTests {
    /// Decodes a folder name back to its prefix (written here from the documented rule,
    /// not from the encoder): `_` alone is `""`, `%XX` is the byte XX.
    static func decode(_ name: String) -> String? {
        if name == "_" { return "" }
        var bytes: [UInt8] = []
        var it = Array(name.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static let tricky = ["", "_", "__", "a/b", "a_b", "a%2Fb", "a%b", "%", ".", "..", "_.", "_..", "...", ".q", "/", "//",
                         "model.json", "Model.JSON", "model%2Ejson", "model.json.x", "x\u{1b}[31m", "x\n", "x\u{7f}", "\u{0}",
                         "blocks.20.step30", "layer3.step1", "ü/ß", "a b", "-", "model.jsonx"]

    @Test("folder names are one to one, decode back, and are safe names in a folder")
    func namesOneToOne() {
        var seen: [String: String] = [:]
        for p in Self.tricky {
            let name = ModelDump.directoryName(p)
            #expect(Self.decode(name) == p, "\(p.debugDescription) -> \(name.debugDescription)")
            // (Case-blind file systems: `folderNames` refuses names alike but for case.)
            if let other = seen[name] { Issue.record("\(p.debugDescription) and \(other.debugDescription) share \(name)") }
            seen[name] = p
            #expect(!name.isEmpty && !name.contains("/") && !name.hasPrefix(".") && name.lowercased() != "model.json")
            #expect(!name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        }
        // Plain prefixes keep their names (outputs of earlier runs unchanged).
        for p in ["blocks.20.step30", "layer3.step1", "a_b", "x-y"] { #expect(ModelDump.directoryName(p) == p) }
    }

    /// A dump of pairs with `prefixes`, written as one safetensors file.
    static func dump(_ dir: TempDir, _ prefixes: [String]) throws -> ModelDump {
        var items: [SafetensorsFile.Item] = []
        for p in prefixes {
            items.append((p + ".q", .float32, [1, 1, 8, 8, 2], [Float](repeating: 1, count: 128)))
            items.append((p + ".k", .float32, [1, 1, 8, 8, 2], [Float](repeating: 1, count: 128)))
        }
        let file = dir.file("m.safetensors")
        try SafetensorsFile.write(items, metadata: [:], to: file)
        return try ModelDump(path: file)
    }

    @Test("folder names too long for the file system are refused naming the pair")
    func tooLong() throws {
        let dir = try TempDir()
        let d = try Self.dump(dir, ["ok", String(repeating: "y", count: 20)])
        #expect(try d.folderNames(in: "out", nameMax: 255) == ["ok", String(repeating: "y", count: 20)])
        let error = #expect(throws: NablaError.self) { _ = try d.folderNames(in: "out", nameMax: 10) }
        #expect(error?.message.contains("the folder name of pair 'yyyyyyyyyyyyyyyyyyyy' is 20 bytes, more than the 10") == true)
    }

    @Test("a pair member named twice in a folder is refused naming both files; a lone q or k is listed")
    func duplicatesAndLoneMembers() throws {
        let dir = try TempDir()
        try SafetensorsFile.write([("q", .float32, [2], [1, 2]), ("k", .float32, [2], [1, 2])], metadata: [:], to: dir.file("b.safetensors"))
        try NPY.write([Float(1), 2], shape: [2], to: dir.file("b.q.npy"))
        let error = #expect(throws: NablaError.self) { _ = try ModelDump(path: dir.path) }
        #expect(error?.message == "\(dir.path): two tensors are named b.q (\(dir.path)/b.q.npy and \(dir.path)/b.safetensors:q); rename or move one")

        try FileManager.default.removeItem(atPath: dir.file("b.safetensors"))
        try NPY.write([Float(1), 2], shape: [2], to: dir.file("c.k.npy"))
        try NPY.write([Float(1), 2], shape: [2], to: dir.file("d.q.npy"))
        try NPY.write([Float(1), 2], shape: [2], to: dir.file("d.k.npy"))
        let d = try ModelDump(path: dir.path)
        #expect(d.pairs.map(\.prefix) == ["d"])
        #expect(d.unpaired == ["\(dir.path)/b.q.npy: tensor b.q has no b.k beside it; not a Q/K pair, skipped",
                               "\(dir.path)/c.k.npy: tensor c.k has no c.q beside it; not a Q/K pair, skipped"])
    }

    /// Every file under `dir` with its bytes.
    static func tree(_ dir: String) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: dir + "/" + rel) { out[rel] = [UInt8](data) } else { out[rel + "/"] = [] }
        }
        return out
    }

    struct Boom: Error {}

    @Test("replaceTree: an error in the body or a write leaves the old tree as it was and a new one absent; success replaces it whole")
    func treeAllOrNothing() throws {
        let dir = try TempDir()
        let out = dir.file("out")
        try OutputSet.replaceTree(directory: out) { stage in
            for p in ["a", "b", "c"] { try stage.folder(named: p).write(Array("old \(p)".utf8), named: "f") }
            try stage.write(Array("{}".utf8), named: "model.json")
        }
        let old = Self.tree(out)
        #expect(old.count == 7)
        // Fails after two folders were staged.
        #expect(throws: Boom.self) {
            try OutputSet.replaceTree(directory: out, oldMembers: { _ in ["a", "b", "c", "model.json"] }) { stage in
                for p in ["a", "b"] { try stage.folder(named: p).write(Array("new \(p)".utf8), named: "f") }
                throw Boom()
            }
        }
        #expect(Self.tree(out) == old)
        #expect(throws: Boom.self) {
            try OutputSet.replaceTree(directory: dir.file("new")) { stage in
                try stage.folder(named: "a").write([1], named: "f")
                throw Boom()
            }
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("new")))
        // A folder written twice is a write error (EEXIST), not a mix.
        #expect(throws: NablaError.self) {
            try OutputSet.replaceTree(directory: out, oldMembers: { _ in ["a", "b", "c", "model.json"] }) { stage in
                _ = try stage.folder(named: "a")
                _ = try stage.folder(named: "a")
            }
        }
        #expect(Self.tree(out) == old)
        // Success with fewer members: the old members go, a user's file stays.
        try Data("mine".utf8).write(to: URL(fileURLWithPath: out + "/notes.txt"))
        try OutputSet.replaceTree(directory: out, oldMembers: { _ in ["a", "b", "c", "model.json"] }) { stage in
            try stage.folder(named: "a").write(Array("new a".utf8), named: "f")
        }
        #expect(Self.tree(out) == ["a/": [], "a/f": Array("new a".utf8), "notes.txt": Array("mine".utf8)])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".nabla-") } == [])
    }

    @Test("ModelReport.compute: a pair file changed on disk during the run fails it at that pair and leaves the earlier output as it was")
    func fileChangedDuringRun() throws {
        let dir = try TempDir()
        let dump = dir.file("dump"), out = dir.file("out")
        try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
        let shape = [1, 2, 16, 16, 8], count = shape.reduce(1, *)
        for i in 0..<4 {
            try NPY.write((0..<count).map { Float(sin(Double($0) * (0.3 + 0.1 * Double(i)))) }, shape: shape, to: "\(dump)/p\(i).q.npy")
            try NPY.write((0..<count).map { Float(cos(Double($0) * (0.2 + 0.1 * Double(i)))) }, shape: shape, to: "\(dump)/p\(i).k.npy")
        }
        let settings = MaskSettings(threshold: 0.9, sta: nil)
        _ = try ModelReport.compute(dump: ModelDump(path: dump), base: InputSpec(source: .sample), block: .nabla,
                                    settings: settings, directory: out)
        let old = Self.tree(out)
        #expect(old.keys.filter { $0.hasSuffix("/") }.count == 4)
        // After pair p1 is written, p3's K is cut short in place (a copy still running).
        let victim = "\(dump)/p3.k.npy"
        let error = #expect(throws: NablaError.self) {
            _ = try ModelReport.compute(dump: ModelDump(path: dump), base: InputSpec(source: .sample), block: .nabla,
                                        settings: MaskSettings(threshold: 0.5, sta: nil), directory: out) { i, _ in
                if i == 1, let bytes = FileManager.default.contents(atPath: victim) {
                    try? bytes.prefix(300).write(to: URL(fileURLWithPath: victim))
                }
            }
        }
        #expect(error?.message.contains("p3.k.npy") == true, "\(error?.message ?? "")")
        #expect(Self.tree(out) == old)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".nabla-") } == [])
    }

    @Test("stale entries of dead writers are removed (folders with their contents); an old tree moved aside is put back when its place is empty")
    func staleTidying() throws {
        let dir = try TempDir()
        // A pid that cannot be running: past the kernel's maximum.
        let dead = "4194305"
        let stage = dir.file(".nabla-new-\(dead)-1")
        try FileManager.default.createDirectory(atPath: stage + "/pair/deeper", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: stage + "/pair/deeper/f"))
        _ = try dir.write(".nabla-tmp-\(dead)-2", [1])
        _ = try dir.write(".out.nabla-tmp-\(dead)-3", [1])            // an earlier version's name
        _ = try dir.write(".nabla-new-\(getpid())-99", [1])             // ours: kept
        _ = try dir.write("notes.nabla-new-x", [1])                     // not nabla's pattern: kept
        let aside = dir.file(".nabla-old-\(dead)-4")
        try FileManager.default.createDirectory(atPath: aside + "/a", withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: aside + "/a/f"))
        _ = try dir.write(".nabla-old-\(dead)-4.target", Array("out".utf8))
        OutputCleanup.removeStale(in: dir.path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
                == [".nabla-new-\(getpid())-99", "notes.nabla-new-x", "out"])
        #expect(Self.tree(dir.file("out")) == ["a/": [], "a/f": Array("old".utf8)])

        // When the place is taken (the new tree got in), the old one is removed instead.
        try FileManager.default.createDirectory(atPath: aside, withIntermediateDirectories: true)
        _ = try dir.write(".nabla-old-\(dead)-4.target", Array("out".utf8))
        OutputCleanup.removeStale(in: dir.path)
        #expect(!FileManager.default.fileExists(atPath: aside))
        #expect(!FileManager.default.fileExists(atPath: aside + ".target"))
        #expect(Self.tree(dir.file("out")) == ["a/": [], "a/f": Array("old".utf8)])
    }

    @Test("Shown escapes control characters in paths and keeps lines and tabs in text")
    func shown() {
        #expect(Shown.path("a\u{1b}[31m\nb\tc\u{7}d\u{9b}e\u{2028}") == "a\\u{1B}[31m\\nb\\tc\\u{7}d\\u{9B}e\\u{2028}")
        #expect(Shown.path(String(repeating: "p", count: 500)).count == 500)
        #expect(Shown.text("x\u{1b}y\nz\tw") == "x\\u{1B}y\nz\tw")
        // JSON stays valid JSON when printed through Shown: it escapes these itself.
        let json = JSON.object([("p", .string("a\u{1b}\u{7f}\u{85}\u{2028}"))]).rendered()
        #expect(Shown.text(json) == json)
        #expect(!json.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
    }
}
