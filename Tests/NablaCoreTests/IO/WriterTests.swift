import Foundation
import Testing
@testable import NablaCore

@Suite("Writers")
struct WriterTests {
    /// The header is version 1.0, ends in '\n' and puts the data at a multiple of 64.
    func checkNPYHeader(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = try Fixture.bytes(path)
        #expect(Array(bytes.prefix(8)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 0x01, 0x00], sourceLocation: sourceLocation)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let dataStart = 10 + headerLength
        #expect(dataStart % 64 == 0, sourceLocation: sourceLocation)
        #expect(bytes[dataStart - 1] == 0x0A, sourceLocation: sourceLocation)
        let header = String(decoding: bytes[10..<dataStart], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '"), sourceLocation: sourceLocation)
    }

    @Test func npyFloatRoundTrip() throws {
        let dir = try TempDir()
        let path = dir.file("q.npy")
        let values = (0..<24).map { Float($0) * 0.1 - 1 }
        try NPY.write(values, shape: [2, 3, 4], to: path)
        try checkNPYHeader(path)
        let t = try NPY.read(path: path)
        #expect(t.dtype == .float32 && t.shape == [2, 3, 4] && !t.fortranOrder && t.byteOrder == .little)
        #expect(t.floats() == values)
        #expect(t.float32View != nil)
    }

    @Test func npyOtherTypesRoundTrip() throws {
        let dir = try TempDir()
        let doubles = [1.5, -2.25, .pi, 1e300]
        try NPY.write(doubles, shape: [4], to: dir.file("d.npy"))
        try checkNPYHeader(dir.file("d.npy"))
        let d = try NPY.read(path: dir.file("d.npy"))
        #expect(d.dtype == .float64 && d.doubles() == doubles)

        let ints: [Int32] = [.min, -1, 0, 7, .max, 42]
        try NPY.write(ints, shape: [3, 2], to: dir.file("i.npy"))
        let i = try NPY.read(path: dir.file("i.npy"))
        #expect(i.dtype == .int32 && i.shape == [3, 2] && i.int64s() == ints.map(Int64.init))

        let bytes: [UInt8] = [0, 1, 128, 255]
        try NPY.write(bytes, shape: [2, 2], to: dir.file("u.npy"))
        let u = try NPY.read(path: dir.file("u.npy"))
        #expect(u.dtype == .uint8 && u.int64s() == [0, 1, 128, 255])

        try NPY.write([Float(9)], shape: [], to: dir.file("s.npy"))
        let s = try NPY.read(path: dir.file("s.npy"))
        #expect(s.shape == [] && s.floats() == [9])

        try NPY.write([Float](), shape: [3, 0], to: dir.file("e.npy"))
        let e = try NPY.read(path: dir.file("e.npy"))
        #expect(e.shape == [3, 0] && e.count == 0)

        let header = String(decoding: try Fixture.bytes(dir.file("s.npy"))[10...], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (), }"))
        let header1 = String(decoding: try Fixture.bytes(dir.file("d.npy"))[10...], as: UTF8.self)
        #expect(header1.contains("'shape': (4,)"))
    }

    /// Shapes beyond NumPy's 64 dimensions (the only way a header could outgrow
    /// version 1.0) are refused, in a message that does not echo 25,000 dimensions.
    @Test func npyRankBeyondNumPyRefused() throws {
        let dir = try TempDir()
        let path = dir.file("wide.npy")
        let shape = [Int](repeating: 1, count: 25_000)
        let e = expectNablaError(.badShape, ["cannot write \(path): shape [1, 1, 1, 1, 1, 1, ..., 1] (25000 dimensions) has more than 64 dimensions"]) {
            try NPY.write([Float(4)], shape: shape, to: path)
        }
        #expect((e?.message.count ?? 0) < 200)
        #expect(!FileManager.default.fileExists(atPath: path))
        try NPY.write([Float(4)], shape: [Int](repeating: 1, count: 64), to: path)
        #expect(try NPY.read(path: path).shape.count == 64)
    }

    /// Around the 65535-byte limit of version 1.0, every header length is valid: v1 up
    /// to the limit with its padding, v2 beyond, data always at a multiple of 64.
    @Test func npyHeaderAtVersion1Limit() throws {
        var versions: Set<UInt8> = []
        // With k unit axes and a last axis of 1-3 digits, the header text is 3k + 55..57
        // bytes; version 1.0 stops fitting (with padding) at k = 21_823, last = 22.
        for k in [21_790, 21_810, 21_820, 21_821, 21_822, 21_823, 21_824, 21_825, 21_840] {
            for last in [1, 22, 333] {
                let shape = [Int](repeating: 1, count: k) + [last]
                let h = NPY.header(descr: "<f4", shape: shape)
                let v = h[6]
                versions.insert(v)
                let prefix = v == 1 ? 10 : 12
                let length = (8..<prefix).reduce(0) { $0 | Int(h[$1]) << (8 * ($1 - 8)) }
                #expect(length == h.count - prefix && h.count % 64 == 0 && h.last == 0x0A)
                if v == 1 { #expect(length <= 0xFFFF) }
                // Beyond 64 dimensions a reader refuses the header, as NumPy does.
                #expect(throws: NablaError(.malformedFile, "h.npy: .npy header shape has \(k + 1) dimensions; NumPy allows at most 64")) {
                    try NPYHeader.parse(h[prefix...], utf8: false, name: "h.npy")
                }
            }
        }
        #expect(versions == [1, 2])
    }

    @Test func npyWriteErrors() throws {
        let dir = try TempDir()
        let path = dir.file("x.npy")
        expectNablaError(.badShape, [path, "shape [2, 3] holds 6 elements but 5 values were given"]) {
            try NPY.write([Float](repeating: 0, count: 5), shape: [2, 3], to: path)
        }
        expectNablaError(.badShape, [path, "negative dimension -1"]) {
            try NPY.write([Float](), shape: [-1], to: path)
        }
        expectNablaError(.badShape, [path, "too many elements"]) {
            try NPY.write([Float](), shape: [1 << 40, 1 << 40], to: path)
        }
        let missing = dir.file("no/such/dir/x.npy")
        expectNablaError(.writeFailed, ["cannot write \(missing): the directory \(dir.file("no/such/dir")) does not exist"]) {
            try NPY.write([Float(1)], shape: [1], to: missing)
        }
    }

    @Test func safetensorsRoundTrip() throws {
        let dir = try TempDir()
        let path = dir.file("t.safetensors")
        let metadata = ["format": "pt", "odd \"key\"": "line\nbreak \\ é 😀", "ctrl": "\u{01}"]
        try SafetensorsFile.write([
            (key: "q", dtype: .float32, shape: [2, 3], values: (0..<6).map { Float($0) / 3 }),
            (key: "h", dtype: .float16, shape: [3], values: [0.5, -65504, 0x1p-24]),
            (key: "b", dtype: .bfloat16, shape: [2], values: [1.5, -384]),
            (key: "i", dtype: .int32, shape: [3], values: [-5, 0, 16_777_216]),
            (key: "m", dtype: .uint8, shape: [1, 3], values: [0, 7, 255]),
            (key: "d", dtype: .float64, shape: [1], values: [0.1]),
            (key: "z", dtype: .bool, shape: [2], values: [1, 0]),
            (key: "key with \"quotes\"", dtype: .float32, shape: [0], values: []),
        ], metadata: metadata, to: path)

        let bytes = try Fixture.bytes(path)
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect((8 + n) % 8 == 0)
        #expect(bytes[8] == UInt8(ascii: "{"))

        let f = try SafetensorsFile.open(path: path)
        #expect(f.metadata == metadata)
        #expect(Set(f.keys) == ["q", "h", "b", "i", "m", "d", "z", "key with \"quotes\""])
        #expect(try f.tensor("q").floats() == (0..<6).map { Float($0) / 3 })
        #expect(try f.tensor("q").shape == [2, 3])
        #expect(try f.tensor("h").floats() == [0.5, -65504, 0x1p-24])
        #expect(try f.tensor("b").floats() == [1.5, -384])
        #expect(try f.tensor("i").int64s() == [-5, 0, 16_777_216])
        #expect(try f.tensor("m").int64s() == [0, 7, 255])
        #expect(try f.tensor("m").shape == [1, 3])
        #expect(try f.tensor("d").doubles() == [Double(Float(0.1))])
        #expect(try f.tensor("z").dtype == .bool)
        #expect(try f.tensor("key with \"quotes\"").count == 0)
        // Laid out by element size: d (8), q i and the empty F32 (4), h b (2), m z (1);
        // the empty tensor sorts before h, which starts at the same offset.
        #expect(f.keys == ["d", "q", "i", "key with \"quotes\"", "h", "b", "m", "z"])
        #expect(try f.tensor("q").float32View != nil)
        for e in f.entries {
            #expect(e.offset % e.dtype!.size == 0, "\(e.name) at byte \(e.offset)")
        }
    }

    @Test func safetensorsRoundingOnWrite() throws {
        let dir = try TempDir()
        let path = dir.file("r.safetensors")
        // 1 + 2^-11 is a tie in float16 and rounds to even (1.0); 1 + 2^-8 likewise in bfloat16.
        try SafetensorsFile.write([
            (key: "h", dtype: .float16, shape: [2], values: [1 + 0x1p-11, 70000]),
            (key: "b", dtype: .bfloat16, shape: [2], values: [1 + 0x1p-8, 1 + 0x1.8p-8]),
        ], metadata: [:], to: path)
        let f = try SafetensorsFile.open(path: path)
        #expect(f.metadata.isEmpty)
        #expect(try f.tensor("h").floats() == [1, .infinity])
        #expect(try f.tensor("b").floats() == [1, 1 + 0x1p-7])
    }

    @Test func safetensorsWriteErrors() throws {
        let dir = try TempDir()
        let path = dir.file("bad.safetensors")
        expectNablaError(.badArgument, [path, "duplicate tensor key 'a'"]) {
            try SafetensorsFile.write([(key: "a", dtype: .float32, shape: [1], values: [1]),
                                       (key: "a", dtype: .float32, shape: [1], values: [1])], metadata: [:], to: path)
        }
        expectNablaError(.badArgument, [path, "'__metadata__' is reserved"]) {
            try SafetensorsFile.write([(key: "__metadata__", dtype: .float32, shape: [1], values: [1])], metadata: [:], to: path)
        }
        expectNablaError(.badArgument, [path, "tensor 'm' (U8)", "value 300.0 at index 1 is not representable"]) {
            try SafetensorsFile.write([(key: "m", dtype: .uint8, shape: [2], values: [1, 300])], metadata: [:], to: path)
        }
        expectNablaError(.badArgument, [path, "tensor 'i' (I32)", "value 1.5 at index 0"]) {
            try SafetensorsFile.write([(key: "i", dtype: .int32, shape: [1], values: [1.5])], metadata: [:], to: path)
        }
        expectNablaError(.badArgument, [path, "(BOOL)", "value 2.0"]) {
            try SafetensorsFile.write([(key: "z", dtype: .bool, shape: [1], values: [2])], metadata: [:], to: path)
        }
        expectNablaError(.badShape, [path, "tensor 'q'", "shape [2, 2] holds 4 elements but 3 values were given"]) {
            try SafetensorsFile.write([(key: "q", dtype: .float32, shape: [2, 2], values: [1, 2, 3])], metadata: [:], to: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
