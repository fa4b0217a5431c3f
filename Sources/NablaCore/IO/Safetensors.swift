/// A validated, memory-mapped `.safetensors` file.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON mapping
/// each key to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the data section, which starts at byte `8 + N`) plus an optional `"__metadata__"`
/// object of strings, then the data section. All elements are little-endian.
public struct SafetensorsFile: @unchecked Sendable {
    public let path: String
    /// `"__metadata__"`, string -> string (empty when absent).
    public let metadata: [String: String]
    /// In file order (by data offset); `RawTensor.name` is `"FILE:KEY"`.
    public let tensors: [RawTensor]
    /// The keys of `tensors`, same order.
    public let keys: [String]
    /// Position of each key in `keys`.
    private let positions: [String: Int]

    private init(path: String, metadata: [String: String], tensors: [RawTensor], keys: [String]) {
        self.path = path
        self.metadata = metadata
        self.tensors = tensors
        self.keys = keys
        // Keys are unique: the header parser refuses duplicate JSON keys.
        positions = Dictionary(keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Headers longer than this are refused.
    static let maxHeaderLength = 100 << 20

    /// Safetensors dtype names and the dtypes they map to.
    static let dtypeNames: [(String, DType)] = [
        ("F64", .float64), ("F32", .float32), ("F16", .float16), ("BF16", .bfloat16),
        ("I8", .int8), ("I16", .int16), ("I32", .int32), ("I64", .int64),
        ("U8", .uint8), ("U16", .uint16), ("U32", .uint32), ("U64", .uint64),
        ("BOOL", .bool),
    ]

    static func dtype(safetensorsName name: String) -> DType? {
        dtypeNames.first { $0.0 == name }?.1
    }

    /// The safetensors name of `dtype` (every `DType` has one).
    static func name(of dtype: DType) -> String {
        switch dtype {
        case .float64: "F64"
        case .float32: "F32"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int8: "I8"
        case .int16: "I16"
        case .int32: "I32"
        case .int64: "I64"
        case .uint8: "U8"
        case .uint16: "U16"
        case .uint32: "U32"
        case .uint64: "U64"
        case .bool: "BOOL"
        }
    }

    /// The tensor stored under `key`.
    /// - Throws: `NablaError.missingTensor` naming the file and key and listing the keys it has.
    public func tensor(_ key: String) throws -> RawTensor {
        if let i = positions[key] { return tensors[i] }
        throw NablaError(.missingTensor, "\(path) has no tensor '\(TensorIO.shown(key))' (available: \(TensorIO.keyList(keys)))")
    }

    /// Maps and validates `path`.
    /// - Throws: `NablaError.fileUnreadable` when the file cannot be opened or is not a
    ///   regular file, `.malformedFile` when the header or offsets break the format,
    ///   `.unsupported` for dtypes nabla does not read.
    public static func open(path: String) throws -> SafetensorsFile {
        let file = try MappedFile(path: path)
        return try decode(file.bytes, path: path, owner: file)
    }

    /// Validates and decodes the bytes of a whole .safetensors file.
    /// - Parameters:
    ///   - bytes: the complete file; tensors view slices of it.
    ///   - path: the file's name for messages and tensor names.
    ///   - owner: keeps `bytes` alive.
    /// - Throws: as `open(path:)`.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String, owner: AnyObject?) throws -> SafetensorsFile {
        func malformed(_ what: String) -> NablaError { NablaError(.malformedFile, "\(path): \(what)") }
        let size = bytes.count
        guard size > 0 else { throw malformed("empty file (0 bytes), not a .safetensors file") }
        guard size >= 8 else {
            throw malformed("truncated .safetensors file: \(size) bytes, shorter than the 8-byte header length")
        }
        var rawLength: UInt64 = 0
        for i in 0..<8 { rawLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard rawLength <= UInt64(maxHeaderLength) else {
            throw malformed("header length \(rawLength) exceeds the \(maxHeaderLength)-byte limit (not a .safetensors file?)")
        }
        let headerLength = Int(rawLength)
        let dataStart = 8 + headerLength
        guard dataStart <= size else {
            throw malformed("header length \(headerLength) runs past the end of the file (file is \(size) bytes)")
        }

        let root: JSONValue
        do {
            var parser = JSONParser(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]))
            root = try parser.parseWhole()
        } catch {
            throw malformed("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
        }
        guard case .object(let entries) = root else {
            throw malformed("header is \(root.kind), not a JSON object")
        }

        struct Entry {
            var key: String
            var dtype: DType
            var shape: [Int]
            var begin: Int
            var end: Int
        }
        let dataSize = size - dataStart
        var metadata: [String: String] = [:]
        var found: [Entry] = []
        for (key, value) in entries {
            if key == "__metadata__" {
                guard case .object(let items) = value else {
                    throw malformed("__metadata__ is \(value.kind), not an object of strings")
                }
                for (k, v) in items {
                    guard case .string(let s) = v else {
                        throw malformed("__metadata__ value for '\(TensorIO.shown(k))' is \(v.kind), not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            func bad(_ what: String) -> NablaError { malformed("tensor '\(TensorIO.shown(key))': \(what)") }
            guard case .object(let fields) = value else {
                throw bad("entry is \(value.kind), not an object")
            }
            func field(_ name: String) throws -> JSONValue {
                guard let v = fields.first(where: { $0.0 == name })?.1 else { throw bad("missing \"\(name)\"") }
                return v
            }
            /// A non-negative integer for `what`.
            func index(_ v: JSONValue, _ what: String) throws -> Int {
                guard case .number(let text, let int) = v else { throw bad("\(what) is \(v.kind), not an integer") }
                guard let int else {
                    if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
                        throw bad("\(what) is \(text), not an integer")
                    }
                    throw bad("\(what) = \(text) is too large")
                }
                guard int >= 0 else { throw bad("\(what) = \(int) is negative") }
                return int
            }

            let dtypeValue = try field("dtype")
            guard case .string(let dtypeName) = dtypeValue else {
                throw bad("dtype is \(dtypeValue.kind), not a string")
            }
            guard let dtype = Self.dtype(safetensorsName: dtypeName) else {
                throw NablaError(.unsupported,
                    "\(path): tensor '\(TensorIO.shown(key))' has dtype \(TensorIO.shown(dtypeName)), which nabla does not read (supported: \(dtypeNames.map(\.0).joined(separator: " ")))")
            }

            let shapeValue = try field("shape")
            guard case .array(let dims) = shapeValue else { throw bad("shape is \(shapeValue.kind), not an array") }
            var shape: [Int] = []
            for (axis, d) in dims.enumerated() { shape.append(try index(d, "shape[\(axis)]")) }
            guard let (_, byteCount) = TensorIO.checkedSizes(shape: shape, itemSize: dtype.size) else {
                throw bad("shape \(shape) of \(dtypeName) is too large: element count x \(dtype.size) bytes overflows")
            }

            let offsetsValue = try field("data_offsets")
            guard case .array(let offsets) = offsetsValue else {
                throw bad("data_offsets is \(offsetsValue.kind), not an array")
            }
            guard offsets.count == 2 else {
                throw bad("data_offsets has \(offsets.count) entries, expected [begin, end]")
            }
            let begin = try index(offsets[0], "data_offsets[0]")
            let end = try index(offsets[1], "data_offsets[1]")
            guard begin <= end else { throw bad("data_offsets [\(begin), \(end)] end before they begin") }
            guard end - begin == byteCount else {
                throw bad("data_offsets [\(begin), \(end)] span \(end - begin) bytes, but shape \(shape) of \(dtypeName) needs \(byteCount)")
            }
            guard end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] run past the end of the file (truncated: the data section has \(dataSize) bytes)")
            }
            found.append(Entry(key: key, dtype: dtype, shape: shape, begin: begin, end: end))
        }

        found.sort { ($0.begin, $0.end, $0.key) < ($1.begin, $1.end, $1.key) }
        var expected = 0
        for (i, e) in found.enumerated() {
            if i == 0, e.begin != 0 {
                throw malformed("data_offsets do not start at 0: the first tensor '\(TensorIO.shown(e.key))' starts at \(e.begin)")
            }
            if e.begin > expected {
                throw malformed("gap in the data section: bytes \(expected)..<\(e.begin) between tensors '\(TensorIO.shown(found[i - 1].key))' and '\(TensorIO.shown(e.key))' belong to no tensor")
            }
            if e.begin < expected {
                let p = found[i - 1]
                throw malformed("tensors overlap: '\(TensorIO.shown(e.key))' [\(e.begin), \(e.end)] starts inside '\(TensorIO.shown(p.key))' [\(p.begin), \(p.end)]")
            }
            expected = e.end
        }
        if expected != dataSize {
            throw malformed("\(dataSize - expected) trailing bytes: the tensors end at data offset \(expected) but the data section has \(dataSize) bytes")
        }

        let tensors = found.map { e in
            RawTensor(name: "\(path):\(e.key)", dtype: e.dtype, shape: e.shape, byteOrder: .little, fortranOrder: false,
                      bytes: UnsafeRawBufferPointer(rebasing: bytes[(dataStart + e.begin)..<(dataStart + e.end)]),
                      owner: owner)
        }
        return SafetensorsFile(path: path, metadata: metadata, tensors: tensors, keys: found.map(\.key))
    }

    // MARK: - Writing

    /// Writes tensors (F32 / F16 / BF16 / I32 / U8 as given) and metadata; data 8-byte aligned (header padded with spaces).
    ///
    /// Each `values` is in C order and converted to its tensor's `dtype`: floating types
    /// round to nearest even; integer and bool types need values they hold exactly
    /// (bool: 0 or 1). Every `DType` is accepted. The header is padded with spaces so
    /// the data section starts at a multiple of 8 bytes, and tensors are laid out by
    /// descending element size (ties in the order given), so every tensor's data is
    /// aligned to its element size and a reader gets zero-copy `float32View`s.
    /// - Throws: `NablaError.badShape` when a tensor's value count does not match its
    ///   shape, `.badArgument` for duplicate or reserved keys and values an integer dtype
    ///   cannot hold, `.writeFailed` naming the path and the system's reason.
    public static func write(_ tensors: [(key: String, dtype: DType, shape: [Int], values: [Float])],
                             metadata: [String: String], to path: String) throws {
        var seen: Set<String> = []
        for t in tensors {
            guard t.key != "__metadata__" else {
                throw NablaError(.badArgument, "cannot write \(path): '__metadata__' is reserved and cannot name a tensor")
            }
            guard seen.insert(t.key).inserted else {
                throw NablaError(.badArgument, "cannot write \(path): duplicate tensor key '\(TensorIO.shown(t.key))'")
            }
            try TensorIO.checkValueCount(t.values.count, shape: t.shape, itemSize: t.dtype.size, file: path, tensor: t.key)
        }
        var header = "{"
        var entries: [String] = []
        if !metadata.isEmpty {
            let items = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        let order = tensors.indices.sorted {
            (-tensors[$0].dtype.size, $0) < (-tensors[$1].dtype.size, $1)
        }
        var data: [UInt8] = []
        for t in order.map({ tensors[$0] }) {
            let begin = data.count
            try append(t.values, as: t.dtype, to: &data, context: "cannot write \(path): tensor '\(TensorIO.shown(t.key))' (\(name(of: t.dtype)))")
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(t.key)):{\"dtype\":\"\(name(of: t.dtype))\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(data.count)]}")
        }
        header += entries.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
        var out: [UInt8] = []
        out.reserveCapacity(8 + headerBytes.count + data.count)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out += headerBytes
        out += data
        try TensorIO.writeFile(out, to: path)
    }

    /// Appends `values` converted to `dtype`, little-endian.
    private static func append(_ values: [Float], as dtype: DType, to data: inout [UInt8], context: String) throws {
        func integers<I: FixedWidthInteger & BitwiseCopyable>(_: I.Type) throws {
            var converted: [I] = []
            converted.reserveCapacity(values.count)
            for (i, v) in values.enumerated() {
                guard let x = I(exactly: v), dtype != .bool || x == 0 || x == 1 else {
                    throw NablaError(.badArgument, "\(context): value \(v) at index \(i) is not representable")
                }
                converted.append(x)
            }
            TensorIO.appendLittleEndian(converted, to: &data) { $0 }
        }
        switch dtype {
        case .float32: TensorIO.appendLittleEndian(values, to: &data) { $0.bitPattern }
        case .float64: TensorIO.appendLittleEndian(values.map(Double.init), to: &data) { $0.bitPattern }
        case .float16: TensorIO.appendLittleEndian(values.map(floatToHalf), to: &data) { $0 }
        case .bfloat16: TensorIO.appendLittleEndian(values.map(floatToBFloat16), to: &data) { $0 }
        case .int8: try integers(Int8.self)
        case .int16: try integers(Int16.self)
        case .int32: try integers(Int32.self)
        case .int64: try integers(Int64.self)
        case .uint8, .bool: try integers(UInt8.self)
        case .uint16: try integers(UInt16.self)
        case .uint32: try integers(UInt32.self)
        case .uint64: try integers(UInt64.self)
        }
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String { JSON.string(s).rendered() }
}

// MARK: - JSON

/// A JSON value from a safetensors header.
indirect enum JSONValue {
    /// Members in order (duplicates are rejected by the parser).
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number as written, and its value when it is an integer literal that fits `Int`.
    case number(String, Int?)
    case bool(Bool)
    case null

    /// "an object", "a string", ... for messages.
    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a bool"
        case .null: "null"
        }
    }
}

/// A strict RFC 8259 JSON parser over bytes: UTF-8 validated strings, duplicate object
/// keys rejected, nesting capped, numbers kept as text (with the `Int` value of integer
/// literals) so offsets are never rounded through `Double`.
struct JSONParser {
    struct Failure: Error {
        var message: String
        /// Byte offset into the parsed text.
        var offset: Int
    }

    static let maxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var pos = 0
    private var depth = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Parses one value surrounded only by whitespace.
    mutating func parseWhole() throws(Failure) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard pos == bytes.count else { throw fail("unexpected \(describe(pos)) after the end of the JSON value") }
        return value
    }

    private func fail(_ message: String, at offset: Int? = nil) -> Failure {
        Failure(message: message, offset: offset ?? pos)
    }

    private func describe(_ i: Int) -> String {
        guard i < bytes.count else { return "end of header" }
        let b = bytes[i]
        if b >= 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x\(NPY.hex([b]))"
    }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { pos += 1 }
    }

    private mutating func expect(_ word: String) throws(Failure) {
        let start = pos
        for b in word.utf8 {
            guard peek == b else { throw fail("expected a JSON value but found \(describe(start))", at: start) }
            pos += 1
        }
    }

    private mutating func parseValue() throws(Failure) -> JSONValue {
        guard let b = peek else { throw fail("expected a JSON value but found end of header") }
        switch b {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
            return b == UInt8(ascii: "{") ? try parseObject() : try parseArray()
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expect("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw fail("expected a JSON value but found \(describe(pos))")
        }
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        pos += 1
        var members: [(String, JSONValue)] = []
        var seen: Set<String> = []
        skipWhitespace()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            let keyStart = pos
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key but found \(describe(pos))") }
            let key = try parseString()
            guard seen.insert(key).inserted else { throw fail("duplicate key \"\(TensorIO.shown(key))\"", at: keyStart) }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(TensorIO.shown(key))\" but found \(describe(pos))") }
            pos += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
            guard peek == UInt8(ascii: ",") else { throw fail("expected ',' or '}' but found \(describe(pos))") }
            pos += 1
        }
    }

    private mutating func parseArray() throws(Failure) -> JSONValue {
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
            guard peek == UInt8(ascii: ",") else { throw fail("expected ',' or ']' but found \(describe(pos))") }
            pos += 1
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw fail("bad hex digit \(describe(pos)) in \\u escape")
            }
            v = v << 4 | UInt32(digit)
            pos += 1
        }
        return v
    }

    private mutating func parseString() throws(Failure) -> String {
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek else { throw fail("unterminated string", at: start) }
            pos += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else {
                    throw fail("string is not valid UTF-8", at: start)
                }
                return s
            case 0..<0x20:
                throw fail("unescaped control character 0x\(NPY.hex([b])) in string", at: pos - 1)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw fail("unterminated string", at: start) }
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if (0xD800..<0xDC00).contains(v) {
                        guard pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(v) else { throw fail("unpaired surrogate in \\u escape") }
                    out += Array(String(Character(scalar)).utf8)
                default:
                    throw fail("bad escape \\\(describe(pos - 1))", at: pos - 2)
                }
            default:
                out.append(b)
            }
        }
    }

    private mutating func parseNumber() throws(Failure) -> JSONValue {
        let start = pos
        func digits() -> Int {
            let s = pos
            while let b = peek, b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { pos += 1 }
            return pos - s
        }
        if peek == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        let intDigits = digits()
        guard intDigits > 0 else { throw fail("bad number: expected digits", at: start) }
        guard intDigits == 1 || bytes[intStart] != UInt8(ascii: "0") else {
            throw fail("bad number: leading zero", at: start)
        }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard digits() > 0 else { throw fail("bad number: expected digits after '.'", at: start) }
            isInteger = false
        }
        if let b = peek, b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
            pos += 1
            if let s = peek, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { pos += 1 }
            guard digits() > 0 else { throw fail("bad number: expected exponent digits", at: start) }
            isInteger = false
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        return .number(text, isInteger ? Int(text) : nil)
    }
}
