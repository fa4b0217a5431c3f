import Foundation
import Testing
@testable import NablaCore

/// Truncations and single-byte corruptions of valid files: the readers must throw a
/// `NablaError` or return a consistent tensor, and never crash or hang.
@Suite("Reader robustness")
struct FuzzTests {
    /// Decodes in memory; on success, touches every element.
    static func tryNPY(_ bytes: [UInt8]) -> Bool {
        let box = ByteBox(bytes)
        do {
            let t = try NPY.decode(box.bytes, name: "fuzz.npy", owner: box)
            #expect(t.bytes.count == t.count * t.dtype.size)
            _ = t.doubles()
            _ = t.firstNonFinite()
            return true
        } catch let error as NablaError {
            #expect(error.message.hasPrefix("fuzz.npy"), "\(error.message)")
            return false
        } catch {
            Issue.record("non-NablaError \(error)")
            return false
        }
    }

    static func trySafetensors(_ bytes: [UInt8]) -> Bool {
        let box = ByteBox(bytes)
        do {
            let f = try SafetensorsFile.decode(box.bytes, path: "fuzz.safetensors", owner: box)
            for key in f.readableKeys {
                let t = try f.tensor(key)
                #expect(t.bytes.count == t.count * t.dtype.size)
                _ = t.doubles()
            }
            return true
        } catch let error as NablaError {
            #expect(error.message.hasPrefix("fuzz.safetensors"), "\(error.message)")
            return false
        } catch {
            Issue.record("non-NablaError \(error)")
            return false
        }
    }

    @Test(arguments: ["f32_c.npy", "f32_v2.npy", "f32_fortran.npy"])
    func npyTruncations(_ name: String) throws {
        let bytes = try Fixture.bytes(Fixture.npy(name))
        for n in 0..<bytes.count {
            #expect(!Self.tryNPY(Array(bytes.prefix(n))), "prefix \(n) of \(name) accepted")
        }
        #expect(Self.tryNPY(bytes))
    }

    @Test(arguments: ["f32.safetensors", "multi.safetensors"])
    func safetensorsTruncations(_ name: String) throws {
        let bytes = try Fixture.bytes(Fixture.st(name))
        for n in 0..<bytes.count {
            #expect(!Self.trySafetensors(Array(bytes.prefix(n))), "prefix \(n) of \(name) accepted")
        }
        #expect(Self.trySafetensors(bytes))
    }

    /// A few prefixes through real files, so `MappedFile` sees them too.
    @Test func truncatedFilesOnDisk() throws {
        let dir = try TempDir()
        let npy = try Fixture.bytes(Fixture.npy("f32_c.npy"))
        let st = try Fixture.bytes(Fixture.st("multi.safetensors"))
        for n in [0, 1, 5, 6, 8, 9, 10, 11, 64, 127, 128, 200] {
            let p = try dir.write("t\(n).npy", Array(npy.prefix(n)))
            #expect(throws: NablaError.self) { try NPY.read(path: p) }
            let q = try dir.write("t\(n).safetensors", Array(st.prefix(n)))
            #expect(throws: NablaError.self) { try SafetensorsFile.open(path: q) }
            #expect(throws: NablaError.self) { try TensorSource(parsing: q).load() }
        }
    }

    @Test func npyHeaderCorruptions() throws {
        var rng = SeededGenerator(seed: 0x6E61_626C_61)
        for name in ["f32_c.npy", "f32_v3.npy", "i8.npy"] {
            let bytes = try Fixture.bytes(Fixture.npy(name))
            let headerEnd = min(bytes.count, 128)
            for _ in 0..<300 {
                var b = bytes
                let i = Int.random(in: 0..<headerEnd, using: &rng)
                b[i] = UInt8.random(in: 0...255, using: &rng)
                _ = Self.tryNPY(b)
            }
            // Byte-by-byte: every header position set to a few telling values.
            for i in 0..<headerEnd {
                for v: UInt8 in [0x00, 0xFF, UInt8(ascii: "("), UInt8(ascii: "'"), UInt8(ascii: "9"), UInt8(ascii: "-")] {
                    var b = bytes
                    b[i] = v
                    _ = Self.tryNPY(b)
                }
            }
        }
    }

    @Test func safetensorsHeaderCorruptions() throws {
        var rng = SeededGenerator(seed: 0x7361_6665)
        for name in ["f32.safetensors", "multi.safetensors"] {
            let bytes = try Fixture.bytes(Fixture.st(name))
            let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
            let headerEnd = 8 + n
            for _ in 0..<300 {
                var b = bytes
                let i = Int.random(in: 0..<headerEnd, using: &rng)
                b[i] = UInt8.random(in: 0...255, using: &rng)
                _ = Self.trySafetensors(b)
            }
            for i in 0..<headerEnd {
                for v: UInt8 in [0x00, 0xFF, UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "9"), UInt8(ascii: "-")] {
                    var b = bytes
                    b[i] = v
                    _ = Self.trySafetensors(b)
                }
            }
        }
    }
}
