/// Reading and writing NumPy `.npy` files.
///
/// Layout: the 6-byte magic `\x93NUMPY`, a major and minor version byte, the header
/// length (2 bytes little-endian for 1.0, 4 bytes for 2.0 and 3.0), the header (a Python
/// dict literal, see `NPYHeader`), then the raw array bytes.
public enum NPY {
    /// `\x93NUMPY`.
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// Headers longer than this are refused (NumPy writes well under 1 KiB).
    static let maxHeaderLength = 1 << 20

    /// Reads a .npy file. Versions 1.0, 2.0, 3.0; '<' '>' '|' '=' byte orders;
    /// descr f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 (and '?'); C and Fortran order.
    ///
    /// The returned tensor is named `path` as given and owns a copy of the data
    /// (`FileBytes`: never a mapping, so a later change on disk cannot crash nabla).
    /// - Throws: `NablaError.fileUnreadable` when the file cannot be opened or is not a
    ///   regular file, `.malformedFile` when its bytes break the format, `.unsupported`
    ///   for other versions and dtypes.
    public static func read(path: String) throws -> RawTensor {
        let file = try FileBytes(path: path)
        return try entry(in: file).load(from: file)
    }

    /// Reads and validates the magic, version and header of the .npy file in `source`
    /// (not its data) and says where the data lies.
    /// - Throws: as `read(path:)`.
    /// - Complexity: O(header length): reads at most the first 1 MiB.
    public static func entry(in source: ByteSource) throws -> TensorEntry {
        let name = source.path
        // The header fits in the first 12 + maxHeaderLength bytes, or is refused; read
        // the length field first, then the header alone (a plan reads no data).
        let (first, firstOwner) = try source.bytes(0..<min(source.size, 12))
        let wanted = withExtendedLifetime(firstOwner) { () -> Int in
            let lengthEnd = first.count >= 8 && first[6] == 1 ? 10 : 12
            guard first.count >= lengthEnd else { return first.count }
            let length = lengthEnd == 10 ? Int(first[8]) | Int(first[9]) << 8
                : Int(first[8]) | Int(first[9]) << 8 | Int(first[10]) << 16 | Int(first[11]) << 24
            return lengthEnd + min(length, maxHeaderLength)
        }
        let (prefix, owner) = try source.bytes(0..<min(source.size, max(wanted, first.count)))
        let (header, dataStart) = try withExtendedLifetime(owner) { try parseHeader(prefix, name: name) }
        let byteCount = try dataSize(header, name: name)
        let shown = TensorIO.shapeText(header.shape, python: true)
        func malformed(_ what: String) -> NablaError { NablaError(.malformedFile, "\(name): \(what)") }
        let available = source.size - dataStart
        if available < byteCount {
            throw malformed("data truncated: shape \(shown) of \(header.dtype) needs \(byteCount) bytes after the header, file has \(available)")
        }
        if available > byteCount {
            throw malformed("\(available - byteCount) trailing bytes after the data: shape \(shown) of \(header.dtype) needs \(byteCount) bytes, file has \(available)")
        }
        return TensorEntry(key: nil, file: name, dtypeName: header.dtype.rawValue, dtype: header.dtype, shape: header.shape,
                           byteOrder: header.byteOrder, fortranOrder: header.fortranOrder, offset: dataStart, byteCount: byteCount)
    }

    /// Validates the magic, version and header at the start of `bytes` (which must
    /// hold at least the whole header) and returns the header and where the data start.
    /// - Throws: as `read(path:)`.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, name: String) throws -> (NPYHeader, dataStart: Int) {
        func malformed(_ what: String) -> NablaError { NablaError(.malformedFile, "\(name): \(what)") }
        let size = bytes.count
        guard size > 0 else { throw malformed("empty file (0 bytes), not a .npy file") }
        let prefix = Array(bytes.prefix(magic.count))
        guard prefix == Array(magic.prefix(prefix.count)) else {
            throw malformed("not a .npy file: starts with \(hex(prefix)), expected \(hex(magic)) (\\x93NUMPY)")
        }
        guard size >= 8 else {
            throw malformed("truncated .npy file: \(size) bytes, too short for the magic and version (8 bytes)")
        }
        let major = bytes[6], minor = bytes[7]
        guard (1...3).contains(major), minor == 0 else {
            throw NablaError(.unsupported, "\(name): unsupported .npy format version \(major).\(minor) (nabla reads 1.0, 2.0 and 3.0)")
        }
        let headerStart = major == 1 ? 10 : 12
        guard size >= headerStart else {
            throw malformed("truncated .npy file: \(size) bytes, too short for the version \(major).0 header length field (\(headerStart) bytes)")
        }
        let headerLength = major == 1
            ? Int(UInt16(bytes[8]) | UInt16(bytes[9]) << 8)
            : Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard headerLength <= maxHeaderLength else {
            throw malformed("header length \(headerLength) exceeds the \(maxHeaderLength)-byte limit")
        }
        let dataStart = headerStart + headerLength
        guard dataStart <= size else {
            throw malformed("header length \(headerLength) runs past the end of the file (header would end at byte \(dataStart), file is \(size) bytes)")
        }
        return (try NPYHeader.parse(bytes[headerStart..<dataStart], utf8: major == 3, name: name), dataStart)
    }

    /// The dtype, shape and data size declared by the NPY header at the start of `prefix`
    /// (an `.npz` member's first bytes), without the data.
    /// - Throws: as `read(path:)`, and `.malformedFile` for a shape whose size overflows.
    static func decodeHeader(_ prefix: [UInt8], name: String) throws -> (NPYHeader, dataBytes: Int) {
        let (header, _) = try prefix.withUnsafeBytes { try parseHeader($0, name: name) }
        return (header, try dataSize(header, name: name))
    }

    /// Bytes of data `header` declares.
    /// - Throws: `.malformedFile` for a shape whose size overflows.
    private static func dataSize(_ header: NPYHeader, name: String) throws -> Int {
        guard let (_, byteCount) = TensorIO.checkedSizes(shape: header.shape, itemSize: header.dtype.size) else {
            throw NablaError(.malformedFile, "\(name): shape \(TensorIO.shapeText(header.shape, python: true)) of \(header.dtype) is too large: element count x \(header.dtype.size) bytes overflows")
        }
        return byteCount
    }

    /// Validates and decodes the bytes of a whole .npy file held in memory.
    /// - Parameters:
    ///   - bytes: the complete file; the tensor views a slice of it.
    ///   - name: the file's name for messages and `RawTensor.name`.
    ///   - owner: keeps `bytes` alive.
    /// - Throws: as `read(path:)`.
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, owner: AnyObject?) throws -> RawTensor {
        let source = MemoryBytes(bytes, path: name, owner: owner)
        return try entry(in: source).load(from: source)
    }

    // MARK: - Writing

    /// Writes a C-order little-endian .npy (version 1.0, header padded to a multiple of 64 bytes,
    /// ending in '\n'; version 2.0 only if the header needs it), that `np.load` reads back.
    /// The file appears whole or not at all, replacing any file or link at `path`
    /// (`AtomicFile`).
    ///
    /// `values` are in C order; `shape` `[]` writes a 0-d array of one value.
    /// - Throws: `NablaError.badShape` when `values.count` is not the product of `shape`,
    ///   `.writeFailed` naming the path and the system's reason.
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try write(values, descr: "<f4", shape: shape, to: path) { $0.bitPattern }
    }

    /// Writes float64 values as a `<f8` .npy; see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `NablaError.badShape`, `.writeFailed`.
    public static func write(_ values: [Double], shape: [Int], to path: String) throws {
        try write(values, descr: "<f8", shape: shape, to: path) { $0.bitPattern }
    }

    /// Writes values as a `<f2` (IEEE half precision) .npy, each rounded to the nearest
    /// float16 (ties to even); see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `NablaError.badShape`, `.writeFailed`.
    public static func write(float16 values: [Float], shape: [Int], to path: String) throws {
        try write(values.map(floatToHalf), descr: "<f2", shape: shape, to: path) { $0 }
    }

    /// Writes int32 values as a `<i4` .npy; see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `NablaError.badShape`, `.writeFailed`.
    public static func write(_ values: [Int32], shape: [Int], to path: String) throws {
        try write(values, descr: "<i4", shape: shape, to: path) { $0 }
    }

    /// Writes bytes as a `|u1` .npy; see `write(_:shape:to:)` for `[Float]`.
    /// - Throws: `NablaError.badShape`, `.writeFailed`.
    public static func write(_ values: [UInt8], shape: [Int], to path: String) throws {
        try write(values, descr: "|u1", shape: shape, to: path) { $0 }
    }

    private static func write<T: BitwiseCopyable, Bits: FixedWidthInteger>(
        _ values: [T], descr: String, shape: [Int], to path: String, bits: (T) -> Bits
    ) throws {
        try AtomicFile.write(try encode(values, descr: descr, shape: shape, name: path, bits: bits), to: path)
    }

    /// The bytes of a .npy file holding `values` (see `write(_:shape:to:)`), for writers
    /// that place files themselves (`OutputSet`); `name` is used in messages only.
    /// - Throws: `NablaError.badShape` when `values.count` is not the product of `shape`.
    public static func encode(_ values: [Float], shape: [Int], name: String) throws -> [UInt8] {
        try encode(values, descr: "<f4", shape: shape, name: name) { $0.bitPattern }
    }

    /// `<i4` bytes; see `encode(_:shape:name:)` for `[Float]`.
    public static func encode(_ values: [Int32], shape: [Int], name: String) throws -> [UInt8] {
        try encode(values, descr: "<i4", shape: shape, name: name) { $0 }
    }

    /// `|u1` bytes; see `encode(_:shape:name:)` for `[Float]`.
    public static func encode(_ values: [UInt8], shape: [Int], name: String) throws -> [UInt8] {
        try encode(values, descr: "|u1", shape: shape, name: name) { $0 }
    }

    /// `<f2` bytes, each value rounded to the nearest float16 (ties to even).
    public static func encode(float16 values: [Float], shape: [Int], name: String) throws -> [UInt8] {
        try encode(values.map(floatToHalf), descr: "<f2", shape: shape, name: name) { $0 }
    }

    private static func encode<T: BitwiseCopyable, Bits: FixedWidthInteger>(
        _ values: [T], descr: String, shape: [Int], name: String, bits: (T) -> Bits
    ) throws -> [UInt8] {
        try TensorIO.checkValueCount(values.count, shape: shape, itemSize: MemoryLayout<Bits>.size, file: name)
        var out = header(descr: descr, shape: shape)
        TensorIO.appendLittleEndian(values, to: &out, bits: bits)
        return out
    }

    /// Writes a .npy file of `shape` and `descr` (`<i4`, `|u1`) into `sink` whose data
    /// `body` then appends in C order, row chunk by row chunk; the bytes are those
    /// `encode` makes for the same values. `body` must append exactly the data's size.
    /// - Throws: `NablaError.badShape` for a shape with a negative dimension or too many
    ///   elements; whatever `body` or the sink throws.
    static func stream(descr: String, itemSize: Int, shape: [Int], name: String, into sink: FileSink,
                       _ body: () throws -> Void) throws {
        guard let (count, bytes) = TensorIO.checkedSizes(shape: shape, itemSize: itemSize) else {
            throw NablaError(.badShape, "cannot write \(name): shape \(TensorIO.shapeText(shape)) has too many elements")
        }
        try TensorIO.checkValueCount(count, shape: shape, itemSize: itemSize, file: name)
        try sink.write(header(descr: descr, shape: shape))
        let start = sink.written
        try body()
        precondition(sink.written - start == bytes, "a streamed .npy wrote \(sink.written - start) data bytes, its shape needs \(bytes)")
    }

    /// The magic, version, length and padded header for a C-order array.
    static func header(descr: String, shape: [Int]) -> [UInt8] {
        let dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(pythonTuple(shape)), }"
        var text = Array(dict.utf8)
        // Header length including the padding and the final '\n' for a given prefix.
        func paddedLength(prefix: Int) -> Int { (prefix + text.count + 1 + 63) / 64 * 64 - prefix }
        // Version 1.0 has a 2-byte length; fall back to 2.0 for headers that do not fit.
        let version: UInt8 = paddedLength(prefix: 10) <= 0xFFFF ? 1 : 2
        let length = paddedLength(prefix: version == 1 ? 10 : 12)
        text += [UInt8](repeating: 0x20, count: length - text.count - 1)
        text.append(0x0A)
        var out = magic + [version, 0]
        out += (0..<(version == 1 ? 2 : 4)).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        return out + text
    }

    /// `()`, `(5,)`, `(2, 3)`.
    static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let h = String(b, radix: 16, uppercase: true)
            return h.count == 1 ? "0" + h : h
        }.joined(separator: " ")
    }
}
