import Foundation
import Testing
@testable import NablaCore

/// Files written by `torch.save` and NumPy (`Tests/Fixtures/torch/make_torch_fixtures.py`)
/// read back value for value against the expected arrays NumPy wrote from the same
/// tensors.
@Suite("torch.save and .npz readers")
struct TorchArchiveTests {
    static let root = URL(fileURLWithPath: Fixture.root).deletingLastPathComponent().appendingPathComponent("torch").path

    static func file(_ name: String) -> String { "\(root)/\(name)" }

    /// Every `expected/FILE__KEY.npy`, as (file, key or nil, expected path).
    static let expectations: [(String, String?, String)] = {
        let dir = "\(root)/expected"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.sorted().compactMap { n in
            guard n.hasSuffix(".npy"), let sep = n.range(of: "__") else { return nil }
            let file = String(n[..<sep.lowerBound])
            let key = String(n[sep.upperBound...].dropLast(4))
            return (file, key == "_" ? nil : key, "\(dir)/\(n)")
        }
    }()

    @Test func everyExpectedTensorReadsBackExactly() throws {
        #expect(Self.expectations.count >= 30)
        for (file, key, expectedPath) in Self.expectations {
            let expected = try NPY.read(path: expectedPath)
            let got = try TensorSource(path: Self.file(file), key: key).load()
            #expect(got.shape == expected.shape, "\(file):\(key ?? "")")
            // f16 and bf16 widen to float32 exactly; f64 is compared as f64.
            #expect(got.doubles() == expected.doubles(), "\(file):\(key ?? "")")
        }
    }

    @Test func dtypesAreTheSavedOnes() throws {
        let f = try TensorFile.open(path: Self.file("dtypes.pt"))
        let dtypes = Dictionary(uniqueKeysWithValues: f.listing.map { ($0.key ?? "", $0.dtype) })
        #expect(dtypes == ["f32": .float32, "f16": .float16, "bf16": .bfloat16, "f64": .float64])
        #expect(f.format == "torch")
    }

    @Test func contiguousTensorsViewTheirStorage() throws {
        let f = try TensorFile.open(path: Self.file("shared.pt"))
        let base = try f.tensor("base"), again = try f.tensor("again"), row = try f.tensor("row")
        // Read from the file into owned memory when chosen (not when the file is opened).
        #expect(base.owner is OwnedBytes)
        // Two tensors of one storage hold the same values; a row is the storage at its offset.
        #expect(base.floats() == again.floats())
        #expect(row.floats() == Array(base.floats()[(2 * 6)..<(3 * 6)]))
        #expect(row.float32View != nil)
        // A transpose is gathered into a copy.
        let t = try f.tensor("t")
        #expect(!(t.owner is OwnedBytes))
        #expect(t.shape == [6, 4])
    }

    @Test func storageOffsetsAndStridesAreRead() throws {
        #expect(TorchArchive.isCContiguous(shape: [2, 3], strides: [3, 1]))
        #expect(TorchArchive.isCContiguous(shape: [1, 3], strides: [99, 1]))
        #expect(!TorchArchive.isCContiguous(shape: [3, 2], strides: [1, 3]))
        #expect(!TorchArchive.isCContiguous(shape: [3, 4], strides: [0, 1]))
        let f = try TensorFile.open(path: Self.file("views.pt"))
        guard case .torch(let archive) = f.content else { Issue.record("not torch"); return }
        let bf16 = try #require(archive.entries.first { $0.key == "bf16_offset" })
        #expect(bf16.ref.offset > 0 && bf16.dtype == .bfloat16)
        let expanded = try #require(archive.entries.first { $0.key == "expanded" })
        #expect(expanded.ref.strides == [0, 1])
    }

    @Test func keysNameNestingAsAStateDictDoes() throws {
        let f = try TensorFile.open(path: Self.file("nested.pt"))
        #expect(f.keys == ["a.b", "a.list.0", "a.list.1.0", "a.list.1.1"])
        #expect(try TensorFile.open(path: Self.file("state_dict.pt")).keys == ["weight", "bias"])
        // A tensor saved alone has no key and is the file's only tensor.
        let single = try TensorFile.open(path: Self.file("single.pt"))
        #expect(single.listing.map(\.key) == [nil])
        #expect(try single.tensor(nil).shape == [2, 3, 4])
    }

    @Test func npzStoredAndCompressedAgree() throws {
        let stored = try TensorFile.open(path: Self.file("arrays.npz"))
        let deflated = try TensorFile.open(path: Self.file("arrays_compressed.npz"))
        #expect(stored.format == "npz" && deflated.format == "npz")
        #expect(stored.keys == ["q", "k", "f16", "f64"] && deflated.keys == stored.keys)
        let q = try NPY.read(path: "\(Self.root)/expected/qk_nested.pt__attn.q.npy")
        for f in [stored, deflated] {
            for key in stored.keys! {
                #expect(try f.tensor(key).doubles() == stored.tensor(key).doubles(), "\(key)")
            }
            #expect(try f.tensor("q").doubles() == q.doubles())
            #expect(try f.tensor("f64").dtype == .float64)
        }
        #expect(try stored.tensor("q").owner is OwnedBytes)
        #expect(try TensorSource(parsing: Self.file("arrays.npz") + ":k").load().shape == [2, 2, 8, 16, 16])
    }

    @Test func aDictNestingQAndKOpensAsQK() throws {
        let spec = InputSpec(source: .tensors(q: TensorSource(path: Self.file("qk_nested.pt"), key: "attn.q"),
                                              k: TensorSource(path: Self.file("qk_nested.pt"), key: "attn.k"), v: nil))
        let input = try spec.load()
        #expect(input.heads == 2 && input.headDim == 16)
        let flat = try InputSpec(source: .file(Self.file("qk.pt"))).load()
        #expect(flat.heads == 2)
    }

    // MARK: - Malformed and hostile files

    @Test func hostilePickleIsRefusedWithoutRunningIt() {
        try? FileManager.default.removeItem(atPath: "/tmp/nabla-pwned")
        expectNablaError(.unsupported, ["hostile_os_system.pt", "refusing to import posix.system", "never runs code"]) {
            try TensorFile.open(path: Self.file("bad/hostile_os_system.pt"))
        }
        expectNablaError(.unsupported, ["hostile_raw_pickle.pt", "legacy torch.save format"]) {
            try TensorFile.open(path: Self.file("bad/hostile_raw_pickle.pt"))
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/nabla-pwned"))
    }

    @Test func brokenArchivesGetOneLineEach() {
        let cases: [(String, NablaError.Code, [String])] = [
            ("legacy.pt", .unsupported, ["legacy torch.save format", "re-save it", "torch.save(torch.load("]),
            ("bad/bad_opcode.pt", .unsupported, ["data.pkl: byte 3", "opcode 0x69"]),
            ("bad/short_storage.pt", .malformedFile, ["single/data/0 holds 40 bytes", "24 float32 elements"]),
            ("bad/missing_storage.pt", .malformedFile, ["single/data/0 is missing"]),
            ("bad/truncated_half.pt", .malformedFile, ["not a readable ZIP archive"]),
            ("bad/truncated_tail.pt", .malformedFile, ["not a readable ZIP archive"]),
            ("bad/bomb.npz", .malformedFile, ["bomb.npz:x.npy", "inflates past the 168 bytes"]),
        ]
        for (name, code, parts) in cases {
            expectNablaError(code, parts) { try TensorFile.open(path: Self.file(name)) }
        }
    }

    @Test func inflatingChecksTheMemoryFirst() throws {
        // The deflated q of arrays_compressed.npz inflates to 32,896 bytes.
        let path = Self.file("arrays_compressed.npz")
        let zip = try ZipContainer(path: path, source: FileBytes(path: path))
        let q = try #require(zip.member("q.npy"))
        #expect(q.isCompressed && q.uncompressedSize == 32_896)
        expectNablaError(.tooLarge, ["arrays_compressed.npz:q.npy", "needs", "more than the", "NABLA_MEMORY_LIMIT"]) {
            try zip.bytes(of: q, limit: 1 << 20, available: (10_000, "NABLA_MEMORY_LIMIT"))
        }
        #expect(try zip.bytes(of: q, limit: 1 << 20, available: (40_000, "NABLA_MEMORY_LIMIT")).0.count == 32_896)
    }

    @Test func truncationsOfATorchFileNeverCrash() throws {
        let bytes = try Fixture.bytes(Self.file("single.pt"))
        let dir = try TempDir()
        for n in stride(from: 0, to: bytes.count, by: 13) {
            let p = try dir.write("cut.pt", Array(bytes.prefix(n)))
            #expect(throws: NablaError.self, "prefix \(n)") { try TensorFile.open(path: p).tensor(nil) }
        }
    }
}

/// The restricted pickle reader on hand-written pickles.
@Suite("Restricted pickle reader")
struct PickleReaderTests {
    /// Reads `bytes` and returns what `inspect` makes of the value (the value's
    /// containers are emptied after it).
    @discardableResult
    static func read<T>(_ bytes: [UInt8], _ inspect: (PickleReader.Value) throws -> T = { _ in () }) throws -> T {
        try bytes.withUnsafeBytes { try PickleReader.read($0, name: "p.pkl", inspect) }
    }

    static func global(_ module: String, _ name: String) -> [UInt8] {
        [UInt8(ascii: "c")] + Array("\(module)\n\(name)\n".utf8)
    }

    @Test func plainValues() throws {
        // {'a': [1, -2, 300, True, None, 'é'], 'b': (1.5,)}
        var p: [UInt8] = [0x80, 2, UInt8(ascii: "}"), UInt8(ascii: "(")]
        p += [0x8C, 1, UInt8(ascii: "a"), UInt8(ascii: "]"), UInt8(ascii: "(")]
        p += [UInt8(ascii: "K"), 1, 0x8A, 1, 0xFE, UInt8(ascii: "M"), 0x2C, 0x01, 0x88, UInt8(ascii: "N")]
        p += [UInt8(ascii: "X"), 2, 0, 0, 0, 0xC3, 0xA9, UInt8(ascii: "e")]
        p += [0x8C, 1, UInt8(ascii: "b"), UInt8(ascii: "G")] + withUnsafeBytes(of: (1.5).bitPattern.bigEndian) { Array($0) }
        p += [0x85, UInt8(ascii: "u"), UInt8(ascii: ".")]
        // Inspected inside the closure: the containers are emptied after it.
        let (items, second) = try Self.read(p) { v -> ([String], Double?) in
            guard case .dict(let d) = v, d.pairs.count == 2, case .list(let l) = d.pairs[0].value else { return ([], nil) }
            let items = l.items.map { v -> String in
                switch v {
                case .int(let i): "\(i)"
                case .bool(let b): "\(b)"
                case .none: "None"
                case .string(let s): s
                default: "?"
                }
            }
            guard case .tuple(let t) = d.pairs[1].value, case .float(let f) = t.items[0] else { return (items, nil) }
            return (items, f)
        }
        #expect(items == ["1", "-2", "300", "true", "None", "é"])
        #expect(second == 1.5)
    }

    @Test func refusedGlobalsAndCalls() {
        for (module, name) in [("os", "system"), ("builtins", "eval"), ("torch", "load"), ("torch._utils", "_rebuild_qtensor")] {
            expectNablaError(.unsupported, ["p.pkl: byte 2", "refusing to import \(module).\(name)"]) {
                try Self.read([0x80, 2] + Self.global(module, name) + [UInt8(ascii: ")"), UInt8(ascii: "R"), UInt8(ascii: ".")])
            }
        }
        // STACK_GLOBAL goes through the same allowlist.
        expectNablaError(.unsupported, ["refusing to import subprocess.run"]) {
            try Self.read([0x80, 4, 0x8C, 10] + Array("subprocess".utf8) + [0x8C, 3] + Array("run".utf8) + [0x93, UInt8(ascii: ".")])
        }
        // An allowed name may still only be called as torch calls it.
        expectNablaError(.unsupported, ["OrderedDict called with 1 arguments"]) {
            try Self.read([0x80, 2] + Self.global("collections", "OrderedDict") + [UInt8(ascii: "N"), 0x85, UInt8(ascii: "R"), UInt8(ascii: ".")])
        }
        // Opcodes outside the set: INST, OBJ, NEWOBJ, EXT1.
        for op in [UInt8(ascii: "i"), UInt8(ascii: "o"), 0x81, 0x82] {
            expectNablaError(.unsupported, ["refusing pickle opcode"]) { try Self.read([0x80, 2, op, UInt8(ascii: ".")]) }
        }
    }

    @Test func malformedPickles() {
        let cases: [([UInt8], String)] = [
            ([0x80, 2, UInt8(ascii: "}")], "ends without STOP"),
            ([0x80, 2, UInt8(ascii: "X"), 9, 0, 0, 0, 65], "truncated"),
            ([0x80, 2, UInt8(ascii: "h"), 3, UInt8(ascii: ".")], "memo entry 3 read before it was written"),
            ([0x80, 2, UInt8(ascii: "t"), UInt8(ascii: ".")], "no MARK"),
            ([0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "N"), UInt8(ascii: ".")], "STOP with 2 values"),
            ([0x80, 2, UInt8(ascii: "a"), UInt8(ascii: ".")], "stack underflow"),
            ([0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "a"), UInt8(ascii: ".")], "APPEND to an empty stack"),
            ([0x80, 2, UInt8(ascii: "N"), UInt8(ascii: "N"), UInt8(ascii: "a"), UInt8(ascii: ".")], "APPEND to a None"),
            ([0x80, 2, UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: "N"), UInt8(ascii: "s"), UInt8(ascii: ".")], "dict key is a list"),
            ([0x80, 2, UInt8(ascii: "X"), 1, 0, 0, 0, 0xFF, UInt8(ascii: ".")], "not valid UTF-8"),
        ]
        for (bytes, part) in cases {
            expectNablaError(.malformedFile, ["p.pkl", part]) { try Self.read(bytes) }
        }
    }

    @Test func aListHoldingItselfIsRefusedByDepth() throws {
        // l = []; l.append(l): EMPTY_LIST BINPUT 0 BINGET 0 APPEND STOP reads (the list
        // is shared through the memo) ...
        let p: [UInt8] = [0x80, 2, UInt8(ascii: "]"), UInt8(ascii: "q"), 0, UInt8(ascii: "h"), 0, UInt8(ascii: "a"), UInt8(ascii: ".")]
        let same = try Self.read(p) { v -> Bool in
            guard case .list(let l) = v, case .list(let inner) = l.items[0] else { return false }
            return l === inner
        }
        #expect(same)
        // ... and inside a torch.save archive the walk over it stops at the depth limit.
        expectNablaError(.malformedFile, ["self_list.pt", "nest deeper than 64"]) {
            try TensorFile.open(path: TorchArchiveTests.file("bad/self_list.pt"))
        }
    }

    @Test func aMillionDeepNestingIsFreedWithoutOverflowingTheStack() {
        // None wrapped in a million TUPLE1s.
        var p: [UInt8] = [0x80, 2, UInt8(ascii: "N")] + [UInt8](repeating: 0x85, count: 1_000_000) + [UInt8(ascii: ".")]
        #expect((try? Self.read(p) { _ in true }) == true)
        // A chain of 300,000 lists, each appended into the one below it.
        let n = 300_000
        p = [0x80, 2] + [UInt8](repeating: UInt8(ascii: "]"), count: n) + [UInt8](repeating: UInt8(ascii: "a"), count: n - 1) + [UInt8(ascii: ".")]
        #expect((try? Self.read(p) { _ in true }) == true)
        // The same chain left on the stack by a failure is freed as well.
        p.removeLast()
        expectNablaError(.malformedFile, ["ends without STOP"]) { try Self.read(p) }
    }
}
