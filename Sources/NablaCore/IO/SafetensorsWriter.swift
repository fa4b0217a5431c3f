extension SafetensorsFile {
    /// A tensor to write: its key, the dtype to store, its shape and its values in C order.
    public typealias Item = (key: String, dtype: DType, shape: [Int], values: [Float])

    /// Writes tensors and metadata as a .safetensors file that the `safetensors` library
    /// reads; data 8-byte aligned (header padded with spaces). The file appears whole or
    /// not at all, replacing any file or link at `path` (`AtomicFile`).
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
    public static func write(_ tensors: [Item], metadata: [String: String], to path: String) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata, name: path), to: path)
    }

    /// The bytes `write(_:metadata:to:)` writes; `name` is used in messages only.
    /// - Throws: as `write(_:metadata:to:)`, except `.writeFailed`.
    /// - Complexity: O(total values).
    public static func encode(_ tensors: [Item], metadata: [String: String], name: String) throws -> [UInt8] {
        var seen: Set<String> = []
        for t in tensors {
            guard t.key != "__metadata__" else {
                throw NablaError(.badArgument, "cannot write \(name): '__metadata__' is reserved and cannot name a tensor")
            }
            guard seen.insert(t.key).inserted else {
                throw NablaError(.badArgument, "cannot write \(name): duplicate tensor key '\(TensorIO.shown(t.key))'")
            }
            try TensorIO.checkValueCount(t.values.count, shape: t.shape, itemSize: t.dtype.size, file: name, tensor: t.key)
        }
        var members: [(String, JSON)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        let order = tensors.indices.sorted {
            (-tensors[$0].dtype.size, $0) < (-tensors[$1].dtype.size, $1)
        }
        var data: [UInt8] = []
        for t in order.map({ tensors[$0] }) {
            let begin = data.count
            try append(t.values, as: t.dtype, to: &data,
                       context: "cannot write \(name): tensor '\(TensorIO.shown(t.key))' (\(t.dtype.safetensorsName))")
            members.append((t.key, .object([
                ("dtype", .string(t.dtype.safetensorsName)),
                ("shape", .array(t.shape.map { .int($0) })),
                ("data_offsets", .array([.int(begin), .int(data.count)])),
            ])))
        }
        var header = Array(JSON.object(members).rendered(compact: true).utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + data.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out += header
        out += data
        return out
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
}
