import Foundation
import Testing
@_spi(Fuzzing) @testable import NablaCore

/// Every file of the fuzz corpus (`Fuzz/Corpus/TARGET/`) through the entry point its
/// fuzz target calls (`ReaderFuzzing`), so a regression on a known crash fails
/// `swift test` without libFuzzer: `crash-*` and `bad-*` files must be refused with a
/// `NablaError`, the seeds `Fuzz/make_seeds.py` wrote must still read to the shapes it
/// recorded (`Corpus/expected.json`), and any other file (a saved fuzzer input) must
/// give either answer without stopping the process.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpus: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // IO
        .deletingLastPathComponent() // NablaCoreTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent() // the package
        .appendingPathComponent("Fuzz/Corpus").path

    static func files(_ target: String) -> [String] {
        let dir = "\(corpus)/\(target)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(target)/\($0)" }
    }

    /// `target/name` -> key -> shape.
    static func expected() throws -> [String: [String: [Int]]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(corpus)/expected.json"))
        return try JSONDecoder().decode([String: [String: [Int]]].self, from: data)
    }

    static func run(_ file: String) throws -> NablaError? {
        let target = String(file.prefix { $0 != "/" })
        let bytes = try Fixture.bytes("\(corpus)/\(file)")
        return bytes.withUnsafeBytes { ReaderFuzzing.run(target, $0) }
    }

    @Test func everyTargetHasSeeds() throws {
        for target in ReaderFuzzing.targets {
            #expect(Self.files(target).count >= 3, "Fuzz/Corpus/\(target) has too few seeds")
        }
        // Every recorded seed exists.
        for file in try Self.expected().keys {
            #expect(FileManager.default.fileExists(atPath: "\(Self.corpus)/\(file)"), "\(file) is missing")
        }
    }

    @Test(arguments: ReaderFuzzing.targets)
    func replay(_ target: String) throws {
        let expected = try Self.expected()
        for file in Self.files(target) {
            let name = (file as NSString).lastPathComponent
            let error = try Self.run(file)
            if name.hasPrefix("crash-") || name.hasPrefix("bad-") {
                #expect(error != nil, "\(file) is accepted")
            } else if expected[file] != nil {
                #expect(error == nil, "seed \(file) is refused: \(error?.message ?? "")")
            }
        }
    }

    /// The seeds written by NumPy, safetensors and PyTorch read to the shapes those
    /// libraries gave them.
    @Test(arguments: ["npy", "safetensors", "zip"])
    func seedsReadToTheirShapes(_ target: String) throws {
        let dir = try TempDir()
        var checked = 0
        for (file, shapes) in try Self.expected() where file.hasPrefix(target + "/") {
            let name = (file as NSString).lastPathComponent
            let path = try dir.write(name, Fixture.bytes("\(Self.corpus)/\(file)"))
            let f = try TensorFile.open(path: path)
            var listed: [String: [Int]] = [:]
            for item in f.listing { listed[item.key ?? ""] = item.shape }
            #expect(listed == shapes, "\(file)")
            for (key, shape) in shapes {
                let t = try f.tensor(key.isEmpty ? nil : key)
                #expect(t.shape == shape, "\(file):\(key)")
                #expect(t.bytes.count == t.count * t.dtype.size)
            }
            checked += 1
        }
        #expect(checked >= 4)
    }

    @Test func pickleSeedsNameTheirTensors() throws {
        var checked = 0
        for (file, shapes) in try Self.expected() where file.hasPrefix("pickle/") {
            let bytes = try Fixture.bytes("\(Self.corpus)/\(file)")
            let found = try bytes.withUnsafeBytes { raw in
                try PickleReader.read(raw, name: file) { try TorchArchive.collect($0, path: file) }
            }
            #expect(Dictionary(uniqueKeysWithValues: found.map { ($0.0, $0.1.shape) }) == shapes, "\(file)")
            checked += 1
        }
        #expect(checked >= 5)
    }

    @Test func dumpNameSeedsPairAsAFolderWould() throws {
        func pairs(_ file: String) throws -> (pairs: [String], unpaired: Int) {
            let text = try String(contentsOfFile: "\(Self.corpus)/dumpnames/\(file)", encoding: .utf8)
            var keys: [String: [String]] = [:]
            var files: [String] = []
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t").map(String.init)
                files.append(parts[0])
                if parts.count > 1 { keys["dump/" + parts[0]] = Array(parts.dropFirst()) }
            }
            let names = ModelDump.names(inFolder: "dump", entries: files) { keys[$0] }
            try ModelDump.checkUnique(names, in: "dump")
            return (ModelDump.pairs(in: names).map(\.prefix), ModelDump.unpaired(in: names).count)
        }
        let npy = try pairs("npy_pairs.txt")
        #expect(npy.pairs == ["blocks.0", "blocks.2", "blocks.10"])
        #expect(npy.unpaired == 1)
        #expect(try pairs("bare.txt").pairs == [""])
        #expect(try pairs("archives.txt").pairs == ["all.a/b", "all.a_b", "blocks.3", "step1.blocks.0"])
        expectNablaError(.badArgument, ["dump", "two tensors are named blocks.3.q"]) { _ = try pairs("clash.txt") }
        let escapes = try pairs("escapes.txt").pairs
        let folders = Dictionary(uniqueKeysWithValues: escapes.map { ($0, ModelDump.directoryName($0)) })
        #expect(folders == [".": "%2E", "_": "%5F", "model.json": "model%2Ejson", "q": "q",
                            "x..": "x..", "x._.": "x._.", "x.%41": "x.%2541"])
        for (prefix, folder) in folders { #expect(ReaderFuzzing.decodeDirectoryName(folder) == prefix) }
    }

    /// Found by the dumpnames target: a key holding a newline reached a message raw
    /// through the tensor source naming it (`two tensors are named ...`), splitting the
    /// one line. Class: a key from a file is escaped wherever a message names its
    /// tensor: dump clashes and lone members, and tensors of each format by name.
    @Test func keysFromFilesAreEscapedInMessages() throws {
        let key = "a\nb\u{1B}[31m"
        let names = [("\(key).q", TensorSource(path: "x.pt", key: "\(key).q")),
                     ("\(key).q", TensorSource(path: "y.pt", key: "\(key).q"))]
        let clash = expectNablaError(.badArgument, ["dump", "a\\nb\\u{1B}[31m.q (x.pt:a\\nb\\u{1B}[31m.q and y.pt:"]) {
            try ModelDump.checkUnique(names, in: "dump")
        }
        #expect(clash != nil)
        for line in ModelDump.unpaired(in: Array(names.prefix(1))) {
            #expect(!line.contains("\n") && !line.contains("\u{1B}") && line.hasPrefix("x.pt:a\\nb"), "\(line)")
        }
        let dir = try TempDir()
        // safetensors: a dtype nabla does not read, named in the message.
        let header = Array("{\"a\\nb\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}".utf8)
        let st = try dir.write("k.safetensors", (0..<8).map { UInt8(header.count >> (8 * $0) & 0xFF) } + header + [0])
        expectNablaError(.unsupported, ["k.safetensors:a\\nb has dtype"]) { try TensorFile.open(path: st).planned("a\nb") }
        // .npz and torch.save: an index out of range names the tensor.
        let npy = try NPY.encode([Float](repeating: 1, count: 4), shape: [2, 2], name: "m")
        let npz = try dir.write("k.npz", StoredZip.make([("a\nb.npy", npy)], flags: ["a\nb.npy": 0x800])) // UTF-8 names
        expectNablaError(.badShape, ["k.npz:a\\nb"]) { try TensorFile.open(path: npz).planned("a\nb", index: [5]) }
        let torch = try dir.write("k.pt", StoredZip.torch(
            pickle: Pickle.proto + Pickle.dict([("a\nb", Pickle.tensor(key: "0", numel: 4, shape: [2, 2], stride: [2, 1]))]) + Pickle.stop,
            storages: [("0", leBytes([1, 2, 3, 4]))]))
        expectNablaError(.badShape, ["k.pt:a\\nb"]) { try TensorFile.open(path: torch).planned("a\nb", index: [5]) }
    }

    /// Found by the dumpnames target: `q` and `.q` (a file `.q.npy`, or a key `.q`)
    /// both name `q` of pair `""`, and made two pairs `""`, one shadowing the other.
    /// Class: a member is its (prefix, letter) however it is spelled; a second spelling
    /// of a member is refused, and `.k` pairs with `q`.
    @Test func oneMemberSpelledTwiceIsRefused() throws {
        func s(_ path: String) -> TensorSource { TensorSource(path: path) }
        expectNablaError(.badArgument, ["dump: tensors q (q.npy) and .q (.q.npy) are both q of pair ''"]) {
            try ModelDump.checkUnique([("q", s("q.npy")), (".q", s(".q.npy")), ("k", s("k.npy"))], in: "dump")
        }
        expectNablaError(.badArgument, ["dump: tensors b.v (b.v.npy) and b.v (x.pt:b.v) are both v", "two tensors are named b.v"].suffix(1)) {
            try ModelDump.checkUnique([("b.v", s("b.v.npy")), ("b.v", TensorSource(path: "x.pt", key: "b.v"))], in: "dump")
        }
        let names = [("q", s("q.npy")), (".k", s(".k.npy")), ("a..q", s("a..q.npy")), ("a..k", s("a..k.npy"))]
        try ModelDump.checkUnique(names, in: "dump")
        #expect(ModelDump.pairs(in: names).map(\.prefix) == ["", "a."])
        #expect(ModelDump.pairs(in: names).first?.k == s(".k.npy"))
        #expect(ModelDump.unpaired(in: names).isEmpty)
        #expect(ModelDump.unpaired(in: [(".q", s(".q.npy"))]) == [".q.npy: tensor .q has no k beside it; not a Q/K pair, skipped"])
    }

    /// The ZIPFoundation trap of issue 22: directory values of 2^63 and more are
    /// refused, naming the record and field, before ZIPFoundation reads them.
    @Test func zipFoundationTrapReproducersAreRefused() throws {
        let dir = try TempDir()
        for (file, field) in [("crash-zip64-directory-offset.npz", "zip64 end-of-central-directory record: central directory offset 9223372036854775808"),
                              ("crash-zip64-local-header-offset.npz", "local header offset 9223372036854775813 (zip64)"),
                              ("bad-zip64-directory-count.npz", "18446744073709551615 members, more than its central directory")] {
            let path = try dir.write(file, Fixture.bytes("\(Self.corpus)/zip/\(file)"))
            expectNablaError(.malformedFile, [path, "not a readable ZIP archive", field]) { _ = try TensorFile.open(path: path) }
        }
    }
}
