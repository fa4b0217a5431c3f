/// A validated, memory-mapped `.safetensors` file.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON mapping
/// each key to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the data section, which starts at byte `8 + N`) plus an optional `"__metadata__"`
/// object of strings, then the data section. All elements are little-endian.
/// Format: https://github.com/huggingface/safetensors (README, "Format").
public struct SafetensorsFile: Sendable {
    public let path: String
    /// `"__metadata__"`, string -> string (empty when absent or `null`).
    public let metadata: [String: String]
    /// Every tensor the header lists, in file order (by data offset), including those of
    /// dtypes nabla does not read (`dtype == nil`, e.g. the `F8_E4M3` markers of fp8
    /// checkpoints): they are listed and their offsets checked, and refused only when
    /// chosen. `TensorEntry.name` is `"FILE:KEY"`.
    public let entries: [TensorEntry]
    /// The keys of `entries`, same order.
    public let keys: [String]
    /// Where the tensors' bytes are read from.
    public let source: ByteSource
    /// Position of each key in `keys`.
    private let positions: [String: Int]

    private init(path: String, metadata: [String: String], entries: [TensorEntry], source: ByteSource) {
        self.path = path
        self.metadata = metadata
        self.entries = entries
        self.keys = entries.map { $0.key ?? "" }
        self.source = source
        // Keys are unique: the header parser refuses duplicate JSON keys.
        positions = Dictionary(keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Headers longer than this are refused.
    static let maxHeaderLength = 100 << 20

    /// The keys of the tensors nabla can read, in file order.
    public var readableKeys: [String] { entries.filter { $0.dtype != nil }.map { $0.key ?? "" } }

    /// The entry stored under `key`.
    /// - Throws: `NablaError.missingTensor` naming the file and key and listing the keys it has.
    public func entry(_ key: String) throws -> TensorEntry {
        if let i = positions[key] { return entries[i] }
        throw NablaError(.missingTensor, "\(path) has no tensor '\(TensorIO.shown(key))' (available: \(TensorIO.keyList(keys)))")
    }

    /// Reads the tensor stored under `key`.
    /// - Throws: `NablaError.missingTensor` naming the file and key and listing the keys
    ///   it has; `.unsupported` for a dtype nabla does not read; `.fileUnreadable` when
    ///   the file cannot be read or changed on disk.
    public func tensor(_ key: String) throws -> RawTensor {
        try entry(key).load(from: source)
    }

    /// Opens `path` and reads and validates its header (not the tensors' data).
    /// - Throws: `NablaError.fileUnreadable` when the file cannot be opened or is not a
    ///   regular file, `.malformedFile` when the header or offsets break the format.
    public static func open(path: String) throws -> SafetensorsFile {
        try decode(FileBytes(path: path))
    }

    /// Validates and decodes the bytes of a whole .safetensors file held in memory.
    /// - Throws: as `open(path:)`.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String, owner: AnyObject?) throws -> SafetensorsFile {
        try decode(MemoryBytes(bytes, path: path, owner: owner))
    }

    /// Reads and validates the header of the safetensors file in `source`.
    /// - Throws: as `open(path:)`.
    /// - Complexity: O(header length + tensors x log tensors) time; memory within a small
    ///   multiple of the header's length (entries are decoded as the parser meets them,
    ///   never as a whole JSON tree).
    public static func decode(_ source: ByteSource) throws -> SafetensorsFile {
        let path = source.path
        let reader = HeaderReader(path: path)
        let dataStart = try reader.dataStart(of: source)
        let dataSize = source.size - dataStart
        let (header, owner) = try source.bytes(8..<dataStart)
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        try withExtendedLifetime(owner) {
            try reader.members(header) { key, value in
                if key == "__metadata__" {
                    metadata = try reader.metadata(value)
                } else {
                    entries.append(try reader.entry(key, value, dataSize: dataSize))
                }
            }
        }
        entries.sort { ($0.begin, $0.end, $0.key) < ($1.begin, $1.end, $1.key) }
        try reader.checkCoverage(entries, dataSize: dataSize)
        let tensors = entries.map { e in
            TensorEntry(key: e.key, file: path, dtypeName: e.dtypeName, dtype: e.dtype, shape: e.shape,
                        byteOrder: .little, fortranOrder: false, offset: dataStart + e.begin, byteCount: e.end - e.begin)
        }
        return SafetensorsFile(path: path, metadata: metadata, entries: tensors, source: source)
    }

    /// One tensor's header entry, validated against the data section's size.
    struct Entry {
        var key: String
        var dtypeName: String
        /// `nil` for a dtype nabla does not read.
        var dtype: DType?
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
        func dataStart(of source: ByteSource) throws -> Int {
            let size = source.size
            guard size > 0 else { throw malformed("empty file (0 bytes), not a .safetensors file") }
            guard size >= 8 else {
                throw malformed("truncated .safetensors file: \(size) bytes, shorter than the 8-byte header length")
            }
            let (bytes, owner) = try source.bytes(0..<8)
            var rawLength: UInt64 = 0
            for i in 0..<8 { rawLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
            withExtendedLifetime(owner) {}
            guard rawLength <= UInt64(maxHeaderLength) else {
                throw malformed("header length \(rawLength) exceeds the \(maxHeaderLength)-byte limit (not a .safetensors file?)")
            }
            let headerLength = Int(rawLength)
            guard 8 + headerLength <= size else {
                throw malformed("header length \(headerLength) runs past the end of the file (file is \(size) bytes)")
            }
            return 8 + headerLength
        }

        /// Calls `body` with each top-level member of the header, in order, as it is
        /// parsed (the header is never held as a whole tree).
        func members(_ header: UnsafeRawBufferPointer, _ body: (String, JSONValue) throws -> Void) throws {
            var parser = JSONParser(header)
            do {
                try parser.parseTopLevelObject(body)
            } catch let error as JSONParser.Failure {
                if let kind = error.topLevelKind { throw malformed("header is \(kind), not a JSON object") }
                throw malformed("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
            }
        }

        /// `"__metadata__"` as string -> string; `null` is no metadata (as the
        /// `safetensors` library reads it).
        func metadata(_ value: JSONValue) throws -> [String: String] {
            if case .null = value { return [:] }
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
            let dtype = DType(safetensorsName: dtypeName)

            let shapeValue = try field("shape")
            guard case .array(let dims) = shapeValue else { throw bad("shape is \(shapeValue.kind), not an array") }
            guard dims.count <= TensorIO.maxRank else {
                throw bad("shape has \(dims.count) dimensions; at most \(TensorIO.maxRank) are allowed")
            }
            var shape: [Int] = []
            for (axis, d) in dims.enumerated() { shape.append(try index(d, "shape[\(axis)]")) }
            let shown = TensorIO.shapeText(shape)
            // Bits per element: nabla's dtypes, and those the format defines that nabla
            // lists but does not read; `nil` for a name the format does not define (its
            // span cannot be checked, its offsets still are).
            let bits = dtype.map { $0.size * 8 } ?? HeaderReader.otherDtypeBits[dtypeName]
            var byteCount: Int?
            if let bits {
                guard let (_, total) = TensorIO.checkedSizes(shape: shape, itemSize: bits) else {
                    throw bad("shape \(shown) of \(dtypeName) is too large: element count x \(bits) bits overflows")
                }
                guard total % 8 == 0 else {
                    throw bad("shape \(shown) of \(dtypeName) holds \(total) bits, not a whole number of bytes")
                }
                byteCount = total / 8
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
            if let byteCount, end - begin != byteCount {
                throw bad("data_offsets [\(begin), \(end)] span \(end - begin) bytes, but shape \(shown) of \(dtypeName) needs \(byteCount)")
            }
            guard end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] run past the end of the file (truncated: the data section has \(dataSize) bytes)")
            }
            return Entry(key: key, dtypeName: dtypeName, dtype: dtype, shape: shape, begin: begin, end: end)
        }

        /// Bits per element of the dtypes the safetensors format defines but nabla does
        /// not read (format README; fp8 checkpoints carry `F8_E4M3` markers).
        static let otherDtypeBits: [String: Int] = [
            "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4, "C64": 64,
        ]

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
