import Foundation
import Testing
@testable import NablaCore

@Suite("TensorSource")
struct TensorSourceTests {
    @Test func parsesPlainAndKeyedSpecs() {
        let a = TensorSource(parsing: "a.npy")
        #expect(a.path == "a.npy" && a.key == nil && a.description == "a.npy")

        let q = TensorSource(parsing: "dir/qk.safetensors:q")
        #expect(q.path == "dir/qk.safetensors" && q.key == "q" && q.description == "dir/qk.safetensors:q")

        // Nothing exists: a spec ending in a known extension stays whole.
        let colon = TensorSource(parsing: "/no/such/we:ird.npy")
        #expect(colon.path == "/no/such/we:ird.npy" && colon.key == nil)

        let empty = TensorSource(parsing: "qk.safetensors:")
        #expect(empty.path == "qk.safetensors" && empty.key == nil)

        #expect(TensorSource(parsing: "x.safetensors:q") == TensorSource(path: "x.safetensors", key: "q"))
    }

    @Test func existingPathWithColonWins() throws {
        let dir = try TempDir()
        let path = dir.file("we:ird.npy")
        try NPY.write([Float(1), 2], shape: [2], to: path)
        let s = TensorSource(parsing: path)
        #expect(s.path == path && s.key == nil)
        #expect(s.description == path)
        let t = try s.load()
        #expect(t.name == path && t.floats() == [1, 2])

        // A safetensors file whose name holds ':' and a key after it.
        let st = dir.file("a:b.safetensors")
        try SafetensorsFile.write([(key: "x", dtype: .float32, shape: [1], values: [5])], metadata: [:], to: st)
        let keyed = TensorSource(parsing: st + ":x")
        #expect(keyed.path == st && keyed.key == "x")
        #expect(try keyed.load().floats() == [5])
    }

    @Test func keyMayContainColons() throws {
        let path = Fixture.st("f32.safetensors")
        let s = TensorSource(parsing: path + ":layer:0")
        #expect(s.path == path && s.key == "layer:0")
        expectNablaError(.missingTensor, [path, "has no tensor 'layer:0'", "available: x"]) { try s.load() }
    }

    @Test func loadsNPYAndKeyedSafetensors() throws {
        let npy = Fixture.npy("f32_c.npy")
        let t = try TensorSource(parsing: npy).load()
        #expect(t.name == npy && t.shape == [2, 3, 4])

        let multi = Fixture.st("multi.safetensors")
        let k = try TensorSource(parsing: multi + ":k").load()
        #expect(k.name == multi + ":k" && k.dtype == .float16)
    }

    @Test func missingKeyListsKeys() {
        let multi = Fixture.st("multi.safetensors")
        expectNablaError(.missingTensor, [multi, "has no tensor 'v'", "available: q, i, b, k, m"]) {
            try TensorSource(parsing: multi + ":v").load()
        }
    }

    @Test func singleTensorFileNeedsNoKey() throws {
        let path = Fixture.st("f32.safetensors")
        let t = try TensorSource(parsing: path).load()
        #expect(t.name == path + ":x")
        #expect(t.floats() == (0..<6).map { Float($0) * 0.25 })
    }

    @Test func multiTensorFileNeedsKey() {
        let multi = Fixture.st("multi.safetensors")
        expectNablaError(.missingTensor, [multi, "holds 5 tensors", "name one as \(multi):KEY", "available: q, i, b, k, m"]) {
            try TensorSource(parsing: multi).load()
        }
        let none = Fixture.st("no_tensors.safetensors")
        expectNablaError(.missingTensor, [none, "holds no tensors"]) { try TensorSource(parsing: none).load() }
    }

    @Test func keyOnNPYIsRefused() {
        let npy = Fixture.npy("f32_c.npy")
        expectNablaError(.missingTensor, [npy, "is a .npy file", "no key 'q'"]) {
            try TensorSource(parsing: npy + ":q").load()
        }
    }

    @Test func detectsFormatByContent() throws {
        let dir = try TempDir()
        // A .npy and a .safetensors under names without their extensions.
        let npy = try dir.write("q.bin", try Fixture.bytes(Fixture.npy("f32_c.npy")))
        #expect(try TensorSource(parsing: npy).load().shape == [2, 3, 4])
        let st = try dir.write("k.dat", try Fixture.bytes(Fixture.st("f32.safetensors")))
        #expect(try TensorSource(parsing: st).load().name == st + ":x")

        let junk = try dir.write("notes.txt", Array("hello, tensors".utf8))
        expectNablaError(.unsupported, [junk, "neither a .npy file", "nor a .safetensors file"]) {
            try TensorSource(parsing: junk).load()
        }
        let missing = dir.file("missing.npy")
        expectNablaError(.fileUnreadable, [missing, "cannot open"]) { try TensorSource(parsing: missing).load() }
    }
}

@Suite("Messages")
struct MessageTests {
    /// Keys from a file are escaped and shortened so messages stay on one line.
    @Test func hostileKeysStayOnOneLine() throws {
        let dir = try TempDir()
        let path = dir.file("keys.safetensors")
        let long = String(repeating: "k", count: 500)
        try SafetensorsFile.write([
            (key: "line\nbreak", dtype: .float32, shape: [1], values: [1]),
            (key: long, dtype: .float32, shape: [1], values: [2]),
        ], metadata: [:], to: path)
        let f = try SafetensorsFile.open(path: path)
        #expect(try f.tensor("line\nbreak").floats() == [1])
        let error = expectNablaError(.missingTensor, [path, "available: line\\nbreak, kkkk", "..."]) {
            try f.tensor("tab\there")
        }
        #expect(error?.message.contains("'tab\\there'") == true)
        #expect((error?.message.count ?? 0) < path.count + 300)
    }

    @Test func shown() {
        #expect(TensorIO.shown("a\u{7F}b\u{2028}c") == "a\\u{7F}b\\u{2028}c")
        #expect(TensorIO.shown("abcdef", limit: 3) == "abc...")
        #expect(TensorIO.shown("é😀") == "é😀")
    }
}
