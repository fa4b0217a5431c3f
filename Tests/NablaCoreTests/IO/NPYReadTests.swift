import Foundation
import Testing
@testable import NablaCore

/// Files written by numpy (see make_fixtures.py for the formula behind each).
@Suite("NPY reader")
struct NPYReadTests {
    @Test func float32COrder() throws {
        let path = Fixture.npy("f32_c.npy")
        let t = try NPY.read(path: path)
        #expect(t.name == path)
        #expect(t.dtype == .float32)
        #expect(t.shape == [2, 3, 4])
        #expect(t.byteOrder == .little)
        #expect(!t.fortranOrder)
        #expect(t.floats() == (0..<24).map { Float($0) * 0.5 - 3 })
        // numpy pads the header to 64 bytes, so the zero-copy view is available.
        let view = try #require(t.float32View)
        #expect(Array(view) == t.floats())
    }

    @Test func fortranOrder2D() throws {
        let t = try NPY.read(path: Fixture.npy("f32_fortran.npy"))
        #expect(t.fortranOrder)
        #expect(!t.isCOrder)
        #expect(t.shape == [3, 4])
        #expect(t.float32View == nil)
        #expect(t.floats() == (0..<12).map { Float($0) + 1 })
        // Storage is column-major: the second stored value is [1, 0] = 5.
        #expect(Float(bitPattern: t.bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == 5)
    }

    @Test func fortranOrder3D() throws {
        let t = try NPY.read(path: Fixture.npy("f64_fortran3.npy"))
        #expect(t.fortranOrder && t.dtype == .float64 && t.shape == [2, 3, 4])
        #expect(t.doubles() == (0..<24).map { Double($0) * 0.25 })
    }

    @Test func float16() throws {
        let t = try NPY.read(path: Fixture.npy("f16.npy"))
        #expect(t.dtype == .float16 && t.shape == [4, 4])
        #expect(t.floats() == (0..<16).map { (Float($0) - 8) / 4 })
    }

    @Test func float16Specials() throws {
        let t = try NPY.read(path: Fixture.npy("f16_special.npy"))
        let v = t.floats()
        #expect(v.count == 8)
        #expect(v[0] == 0x1p-24)           // smallest subnormal
        #expect(v[1] == 3 * 0x1p-24)       // subnormal
        #expect(v[2] == 0x1p-14)           // smallest normal
        #expect(v[3] == 65504)             // largest finite
        #expect(v[4] == .infinity)
        #expect(v[5] == -.infinity)
        #expect(v[6] == 0 && v[6].sign == .minus)
        #expect(v[7].isNaN)
        #expect(t.firstNonFinite() == 4)
    }

    @Test func bigEndian() throws {
        let f4 = try NPY.read(path: Fixture.npy("f32_be.npy"))
        #expect(f4.byteOrder == .big && f4.shape == [2, 3])
        #expect(f4.float32View == nil)
        #expect(f4.floats() == (0..<6).map { Float($0) * 1.25 })

        let f8 = try NPY.read(path: Fixture.npy("f64_be.npy"))
        #expect(f8.byteOrder == .big && f8.dtype == .float64 && f8.shape == [5])
        #expect(f8.doubles() == (0..<5).map { Double($0) / 8 - 1 })

        let i2 = try NPY.read(path: Fixture.npy("i2_be.npy"))
        #expect(i2.dtype == .int16 && i2.byteOrder == .big)
        #expect(i2.int64s() == (0..<6).map { (Int64($0) - 3) * 300 })

        let u8 = try NPY.read(path: Fixture.npy("u8_be.npy"))
        #expect(u8.dtype == .uint64)
        #expect(u8.int64s() == (0..<4).map { Int64($0) << 33 })
    }

    @Test func versions2And3() throws {
        let v2 = try NPY.read(path: Fixture.npy("f32_v2.npy"))
        #expect(try Fixture.bytes(Fixture.npy("f32_v2.npy"))[6] == 2)
        #expect(v2.shape == [2, 5])
        #expect(v2.floats() == (0..<10).map { Float($0) * 3 })

        let v3 = try NPY.read(path: Fixture.npy("f32_v3.npy"))
        #expect(try Fixture.bytes(Fixture.npy("f32_v3.npy"))[6] == 3)
        #expect(v3.shape == [6])
        #expect(v3.floats() == (0..<6).map { Float($0) - 2.5 })
    }

    @Test func integersAndBool() throws {
        let i4 = try NPY.read(path: Fixture.npy("i4.npy"))
        #expect(i4.dtype == .int32 && i4.shape == [10])
        #expect(i4.int64s() == (0..<10).map { (Int64($0) - 5) * 1000 })
        #expect(i4.floats() == (0..<10).map { (Float($0) - 5) * 1000 })

        let i8 = try NPY.read(path: Fixture.npy("i8.npy"))
        #expect(i8.dtype == .int64 && i8.shape == [2, 3])
        #expect(i8.int64s() == (0..<6).map { Int64($0) << 40 - 3 })

        let u1 = try NPY.read(path: Fixture.npy("u1.npy"))
        #expect(u1.dtype == .uint8 && u1.shape == [16, 16])
        #expect(u1.int64s() == (0..<256).map { 255 - Int64($0) })

        let b1 = try NPY.read(path: Fixture.npy("b1.npy"))
        #expect(b1.dtype == .bool && b1.shape == [10])
        #expect(b1.int64s() == (0..<10).map { $0 % 3 == 0 ? 1 : 0 })
        #expect(b1.firstNonFinite() == nil)

        let i1 = try NPY.read(path: Fixture.npy("i1.npy"))
        #expect(i1.dtype == .int8)
        #expect(i1.int64s() == (0..<8).map { Int64($0) - 4 })

        let u2 = try NPY.read(path: Fixture.npy("u2.npy"))
        #expect(u2.dtype == .uint16)
        #expect(u2.int64s() == [0, 1000, 2000, 3000])
    }

    @Test func zeroDAndOneD() throws {
        let s = try NPY.read(path: Fixture.npy("scalar.npy"))
        #expect(s.shape == [] && s.count == 1)
        #expect(s.floats() == [3.5])
        #expect(s.multiIndex(ofFlat: 0) == [])

        let d = try NPY.read(path: Fixture.npy("f64_1d.npy"))
        #expect(d.shape == [7])
        #expect(d.doubles() == (0..<7).map { Double($0) / 4 })

        let e = try NPY.read(path: Fixture.npy("empty.npy"))
        #expect(e.shape == [0, 3] && e.count == 0 && e.bytes.count == 0)
        #expect(e.floats().isEmpty)
        #expect(e.firstNonFinite() == nil)
    }

    /// Valid headers numpy reads that numpy itself would not write.
    @Test func unusualButValidHeaders() throws {
        for name in ["odd_native.npy", "odd_quotes.npy", "odd_nopad.npy"] {
            let t = try NPY.read(path: Fixture.npy(name))
            #expect(t.dtype == .float32 && t.shape == [3], "\(name)")
            #expect(t.floats() == [1, 2, 3], "\(name)")
        }
        #expect(try NPY.read(path: Fixture.npy("odd_native.npy")).byteOrder == .native)
        let q = try NPY.read(path: Fixture.npy("odd_bool_q.npy"))
        #expect(q.dtype == .bool && q.shape == [2, 1] && q.fortranOrder && q.isCOrder)
        #expect(q.int64s() == [1, 0])
    }

    @Test func tensorOwnsItsBytes() throws {
        let t = try NPY.read(path: Fixture.npy("f32_c.npy"))
        // Only the tensor refers to its bytes now (a copy, never a mapping); reading must still work.
        #expect(t.owner is OwnedBytes)
        #expect(t.floats()[23] == 23 * 0.5 - 3)
    }
}

@Suite("NPY header parser")
struct PythonLiteralParserTests {
    func parse(_ s: String) throws -> PythonLiteral {
        var p = PythonLiteralParser(Array(s.unicodeScalars))
        return try p.parseWhole()
    }

    @Test func tuples() throws {
        #expect(try parse("()") == .tuple([]))
        #expect(try parse("(5,)") == .tuple([.int("5", 5)]))
        #expect(try parse("( 5 , )") == .tuple([.int("5", 5)]))
        #expect(try parse("(5)") == .int("5", 5))
        #expect(try parse("(2, 3)") == .tuple([.int("2", 2), .int("3", 3)]))
        #expect(try parse("(2, 3,)") == .tuple([.int("2", 2), .int("3", 3)]))
        #expect(try parse("((1,), [2])") == .tuple([.tuple([.int("1", 1)]), .list([.int("2", 2)])]))
    }

    @Test func scalars() throws {
        #expect(try parse("'a\\'b'") == .string("a'b"))
        #expect(try parse("\"x\\\"y\"") == .string("x\"y"))
        #expect(try parse("u'<f4'") == .string("<f4"))
        #expect(try parse("'\\x41\\n'") == .string("A\n"))
        #expect(try parse("True") == .bool(true))
        #expect(try parse(" False ") == .bool(false))
        #expect(try parse("None") == PythonLiteral.none)
        #expect(try parse("-12") == .int("-12", -12))
        #expect(try parse("7L") == .int("7", 7))
        #expect(try parse("-9223372036854775808") == .int("-9223372036854775808", Int.min))
        #expect(try parse("9223372036854775808") == .int("9223372036854775808", nil))
    }

    @Test func dicts() throws {
        #expect(try parse("{}") == .dict([]))
        #expect(try parse("{'a': 1, \"b\": (2,), }") == .dict([("a", .int("1", 1)), ("b", .tuple([.int("2", 2)]))]))
    }

    @Test(arguments: [
        ("", "expected a value"),
        ("{'a' 1}", "expected ':'"),
        ("{'a': 1 'b': 2}", "expected ',' or '}'"),
        ("{1: 2}", "dict key is not a string"),
        ("'abc", "unterminated string"),
        ("'ab\ncd'", "unterminated string"),
        ("(1, 2", "expected ',' or ')'"),
        ("[1 2]", "expected ',' or ']'"),
        ("foo", "unexpected name 'foo'"),
        ("1.5", "unexpected '.'"),
        ("-", "expected digits"),
        ("{'a': 1, 'a': 2}", "duplicate key 'a'"),
        ("'\\xZZ'", "bad \\x escape"),
        (String(repeating: "[", count: 40), "nesting deeper"),
        ("{} {}", "after the end"),
    ])
    func rejects(_ input: String, _ message: String) {
        var p = PythonLiteralParser(Array(input.unicodeScalars))
        do {
            let v = try p.parseWhole()
            Issue.record("parsed \(input) as \(v)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
