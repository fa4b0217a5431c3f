/// A validated, memory-mapped `.safetensors` file.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON mapping
/// each key to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the data section, which starts at byte `8 + N`) plus an optional `"__metadata__"`
/// object of strings, then the data section. All elements are little-endian.
/// Format: https://github.com/huggingface/safetensors (README, "Format").
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
    /// - Complexity: O(header length + tensors x log tensors).
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String, owner: AnyObject?) throws -> SafetensorsFile {
        let reader = HeaderReader(path: path)
        let dataStart = try reader.dataStart(of: bytes)
        let members = try reader.members(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]))
        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (key, value) in members {
            if key == "__metadata__" {
                metadata = try reader.metadata(value)
            } else {
                entries.append(try reader.entry(key, value, dataSize: dataSize))
            }
        }
        entries.sort { ($0.begin, $0.end, $0.key) < ($1.begin, $1.end, $1.key) }
        try reader.checkCoverage(entries, dataSize: dataSize)

        let tensors = entries.map { e in
            RawTensor(name: "\(path):\(e.key)", dtype: e.dtype, shape: e.shape, byteOrder: .little, fortranOrder: false,
                      bytes: UnsafeRawBufferPointer(rebasing: bytes[(dataStart + e.begin)..<(dataStart + e.end)]),
                      owner: owner)
        }
        return SafetensorsFile(path: path, metadata: metadata, tensors: tensors, keys: entries.map(\.key))
    }

    /// One tensor's header entry, validated against the data section's size.
    struct Entry {
        var key: String
        var dtype: DType
        var shape: [Int]
        /// Byte range in the data section.
        var begin: Int
        var end: Int
    }

    /// The steps of `decode`, each naming `path` in its errors.
    struct HeaderReader {
        let path: String

        func malformed(_ what: String) -> NablaError { NablaError(.malformedFile, "\(path): \(what)") }

        /// The byte where the data section starts (`8 + N`), after checking the length field.
        func dataStart(of bytes: UnsafeRawBufferPointer) throws -> Int {
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
            guard 8 + headerLength <= size else {
                throw malformed("header length \(headerLength) runs past the end of the file (file is \(size) bytes)")
            }
            return 8 + headerLength
        }

        /// The header's top-level members, in order.
        func members(_ header: UnsafeRawBufferPointer) throws -> [(String, JSONValue)] {
            let root: JSONValue
            do {
                var parser = JSONParser(header)
                root = try parser.parseWhole()
            } catch {
                throw malformed("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
            }
            guard case .object(let members) = root else {
                throw malformed("header is \(root.kind), not a JSON object")
            }
            return members
        }

        /// `"__metadata__"` as string -> string.
        func metadata(_ value: JSONValue) throws -> [String: String] {
            guard case .object(let items) = value else {
                throw malformed("__metadata__ is \(value.kind), not an object of strings")
            }
            var metadata: [String: String] = [:]
            for (k, v) in items {
                guard case .string(let s) = v else {
                    throw malformed("__metadata__ value for '\(TensorIO.shown(k))' is \(v.kind), not a string")
                }
                metadata[k] = s
            }
            return metadata
        }

        /// The entry of tensor `key`, its dtype, shape and offsets checked.
        func entry(_ key: String, _ value: JSONValue, dataSize: Int) throws -> Entry {
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
            guard let dtype = DType(safetensorsName: dtypeName) else {
                throw NablaError(.unsupported,
                    "\(path): tensor '\(TensorIO.shown(key))' has dtype \(TensorIO.shown(dtypeName)), which nabla does not read (supported: \(DType.allCases.map(\.safetensorsName).joined(separator: " ")))")
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
            return Entry(key: key, dtype: dtype, shape: shape, begin: begin, end: end)
        }

        /// Checks that `entries` (sorted by offset) cover the data section exactly: no
        /// gap, no overlap, no trailing bytes.
        func checkCoverage(_ entries: [Entry], dataSize: Int) throws {
            var expected = 0
            for (i, e) in entries.enumerated() {
                if i == 0, e.begin != 0 {
                    throw malformed("data_offsets do not start at 0: the first tensor '\(TensorIO.shown(e.key))' starts at \(e.begin)")
                }
                if e.begin > expected {
                    throw malformed("gap in the data section: bytes \(expected)..<\(e.begin) between tensors '\(TensorIO.shown(entries[i - 1].key))' and '\(TensorIO.shown(e.key))' belong to no tensor")
                }
                if e.begin < expected {
                    let p = entries[i - 1]
                    throw malformed("tensors overlap: '\(TensorIO.shown(e.key))' [\(e.begin), \(e.end)] starts inside '\(TensorIO.shown(p.key))' [\(p.begin), \(p.end)]")
                }
                expected = e.end
            }
            if expected != dataSize {
                throw malformed("\(dataSize - expected) trailing bytes: the tensors end at data offset \(expected) but the data section has \(dataSize) bytes")
            }
        }
    }
}

extension DType {
    /// The dtype's name in a safetensors header (`"F32"`, `"BF16"`, `"BOOL"`, ...).
    public var safetensorsName: String {
        switch self {
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

    /// The dtype a safetensors header names `name`, or `nil` for one nabla does not read.
    public init?(safetensorsName name: String) {
        guard let d = DType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = d
    }
}
