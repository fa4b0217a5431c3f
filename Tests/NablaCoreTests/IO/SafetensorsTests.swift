import Foundation
import Testing
@testable import NablaCore

/// Files written by the `safetensors` package (see make_fixtures.py).
@Suite("Safetensors reader")
struct SafetensorsReadTests {
    @Test func singleFloat32() throws {
        let path = Fixture.st("f32.safetensors")
        let f = try SafetensorsFile.open(path: path)
        #expect(f.path == path)
        #expect(f.keys == ["x"])
        #expect(f.metadata.isEmpty)
        let x = try f.tensor("x")
        #expect(x.name == "\(path):x")
        #expect(x.dtype == .float32 && x.shape == [2, 3] && x.byteOrder == .little && !x.fortranOrder)
        #expect(x.floats() == (0..<6).map { Float($0) * 0.25 })
    }

    @Test func multipleTensorsAndMetadata() throws {
        let path = Fixture.st("multi.safetensors")
        let f = try SafetensorsFile.open(path: path)
        #expect(f.metadata == ["format": "np", "note": "nabla fixture"])
        // File order is by data offset, whatever order the header lists them in.
        #expect(f.keys == ["q", "i", "b", "k", "m"])
        #expect(f.entries.map(\.name) == f.keys.map { "\(path):\($0)" })

        let q = try f.tensor("q")
        #expect(q.dtype == .float32 && q.shape == [2, 4])
        #expect(q.floats() == (0..<8).map { Float($0) * 0.5 - 1 })

        let k = try f.tensor("k")
        #expect(k.dtype == .float16 && k.shape == [2, 4])
        #expect(k.floats() == (0..<8).map { Float($0) / 8 - 0.5 })

        let b = try f.tensor("b")
        #expect(b.dtype == .bfloat16 && b.shape == [3, 2])
        #expect(b.floats() == [1.0, -2.5, 0.15625, 384.0, -0.0078125, 3.0])

        let m = try f.tensor("m")
        #expect(m.dtype == .uint8 && m.int64s() == [0, 1, 2, 3, 255])

        let i = try f.tensor("i")
        #expect(i.dtype == .int32 && i.int64s() == [-7, 0, 123456])
    }

    @Test func remainingDtypes() throws {
        let f = try SafetensorsFile.open(path: Fixture.st("dtypes.safetensors"))
        #expect(Set(f.keys) == ["f64", "i64", "bool", "i8", "i16", "u16", "u32", "u64"])
        #expect(try f.tensor("f64").doubles() == [0, 0.5, 1])
        #expect(try f.tensor("i64").int64s() == [-(1 << 40), 5])
        #expect(try f.tensor("bool").dtype == .bool)
        #expect(try f.tensor("bool").int64s() == [1, 0, 1])
        #expect(try f.tensor("i8").int64s() == [-128, 127])
        #expect(try f.tensor("i16").int64s() == [-300, 300])
        #expect(try f.tensor("u16").int64s() == [65535])
        #expect(try f.tensor("u32").int64s() == [4_000_000_000])
        #expect(try f.tensor("u64").int64s() == [1 << 40 + 1])
    }

    @Test func zeroSizeAndEmptyFiles() throws {
        let z = try SafetensorsFile.open(path: Fixture.st("zero_size.safetensors"))
        #expect(try z.tensor("none").shape == [0, 4])
        #expect(try z.tensor("none").count == 0)
        #expect(try z.tensor("one").floats() == [1, 1])

        let none = try SafetensorsFile.open(path: Fixture.st("no_tensors.safetensors"))
        #expect(none.keys.isEmpty && none.entries.isEmpty)
    }

    /// The names the safetensors format gives each dtype (its README, "Format"), written
    /// out here rather than taken from nabla's own table.
    @Test func dtypeNamesFollowTheFormat() {
        let expected: [DType: String] = [
            .float64: "F64", .float32: "F32", .float16: "F16", .bfloat16: "BF16",
            .int8: "I8", .int16: "I16", .int32: "I32", .int64: "I64",
            .uint8: "U8", .uint16: "U16", .uint32: "U32", .uint64: "U64", .bool: "BOOL",
        ]
        #expect(expected.count == DType.allCases.count)
        for d in DType.allCases {
            #expect(d.safetensorsName == expected[d])
            #expect(DType(safetensorsName: expected[d]!) == d)
        }
        #expect(DType(safetensorsName: "F8_E4M3") == nil)
        #expect(DType(safetensorsName: "f32") == nil)
    }

    @Test func missingKeyListsAvailable() throws {
        let path = Fixture.st("multi.safetensors")
        let f = try SafetensorsFile.open(path: path)
        expectNablaError(.missingTensor, [path, "has no tensor 'v'", "available: q, i, b, k, m"]) {
            try f.tensor("v")
        }
    }
}

@Suite("Safetensors JSON parser")
struct JSONParserTests {
    func parse(_ s: String) throws -> JSONValue {
        let bytes = Array(s.utf8)
        return try bytes.withUnsafeBytes { raw in
            var p = JSONParser(raw)
            return try p.parseWhole()
        }
    }

    @Test func values() throws {
        guard case .object(let o) = try parse(#" { "a" : [1, -2, 3.5, 1e3, true, false, null, "x"] } "#),
              case .array(let a) = o.first?.1 else {
            Issue.record("not an object with an array")
            return
        }
        #expect(o.map(\.0) == ["a"])
        guard case .number("1", 1) = a[0], case .number("-2", -2) = a[1],
              case .number("3.5", nil) = a[2], case .number("1e3", nil) = a[3],
              case .bool(true) = a[4], case .bool(false) = a[5], case .null = a[6],
              case .string("x") = a[7] else {
            Issue.record("unexpected values \(a)")
            return
        }
        guard case .number(_, nil) = try parse("99999999999999999999") else {
            Issue.record("huge integer should have no Int value")
            return
        }
    }

    @Test func stringEscapes() throws {
        guard case .string(let s) = try parse(#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#) else {
            Issue.record("not a string")
            return
        }
        #expect(s == "a\"b\\c/d\né😀")
    }

    @Test(arguments: [
        ("", "expected a JSON value"),
        ("{", "expected a string key"),
        ("{\"a\" 1}", "expected ':'"),
        ("[1 2]", "expected ',' or ']'"),
        ("01", "leading zero"),
        ("1.", "expected digits after '.'"),
        ("-", "expected digits"),
        ("tru", "expected a JSON value"),
        ("\"a", "unterminated string"),
        ("\"\\q\"", "bad escape"),
        ("\"\\ud800\"", "unpaired surrogate"),
        ("\"\u{01}\"", "unescaped control character"),
        ("{\"a\":1,\"a\":2}", "duplicate key"),
        ("[] []", "after the end"),
        (String(repeating: "[", count: 100), "nesting deeper"),
    ])
    func rejects(_ input: String, _ message: String) {
        do {
            let v = try parse(input)
            Issue.record("parsed \(input) as \(v)")
        } catch let error as JSONParser.Failure {
            #expect(error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
