/// The parsed header of a .npy file: element type, byte order, layout and shape.
///
/// The header is a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. It is parsed by
/// `PythonLiteralParser`, a small parser for the literal subset NumPy writes; nothing
/// is ever evaluated.
struct NPYHeader: Equatable {
    var dtype: DType
    var byteOrder: ByteOrder
    var fortranOrder: Bool
    var shape: [Int]

    /// The descr codes nabla reads, without the byte-order character.
    static let supportedDescrs: [String: DType] = [
        "f2": .float16, "f4": .float32, "f8": .float64,
        "i1": .int8, "i2": .int16, "i4": .int32, "i8": .int64,
        "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64,
        "b1": .bool, "?": .bool,
    ]

    /// Parses and validates the header text of `name` (`text` is the header without the
    /// magic, version and length fields).
    /// - Parameter utf8: version 3.0 headers are UTF-8; 1.0 and 2.0 are Latin-1.
    /// - Throws: `NablaError.malformedFile` for bad grammar, missing or unknown keys and
    ///   bad shapes; `NablaError.unsupported` for dtypes nabla does not read.
    static func parse<Bytes: Collection<UInt8>>(_ text: Bytes, utf8: Bool, name: String) throws -> NPYHeader {
        func malformed(_ what: String) -> NablaError {
            NablaError(.malformedFile, "\(name): .npy header \(what)")
        }
        let scalars: [Unicode.Scalar]
        if utf8 {
            guard let decoded = String(validating: text, as: UTF8.self) else {
                throw malformed("is not valid UTF-8 (required by format version 3.0)")
            }
            scalars = Array(decoded.unicodeScalars)
        } else {
            scalars = text.map { Unicode.Scalar($0) }
        }

        let literal: PythonLiteral
        do {
            var parser = PythonLiteralParser(scalars)
            literal = try parser.parseWhole()
        } catch {
            throw malformed("is not a valid Python dict literal: \(error.message) at character \(error.offset)")
        }
        guard case .dict(let entries) = literal else {
            throw malformed("is not a dict but \(literal.kind)")
        }

        var descr: PythonLiteral?
        var fortran: PythonLiteral?
        var shapeValue: PythonLiteral?
        for (key, value) in entries {
            switch key {
            case "descr": descr = value
            case "fortran_order": fortran = value
            case "shape": shapeValue = value
            default: throw malformed("has unexpected key '\(TensorIO.shown(key))' (expected only descr, fortran_order, shape)")
            }
        }
        guard let descr, let fortran, let shapeValue else {
            let missing = [("descr", descr), ("fortran_order", fortran), ("shape", shapeValue)]
                .filter { $0.1 == nil }.map { "'\($0.0)'" }
            throw malformed("lacks required key\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", "))")
        }

        // descr
        let (dtype, byteOrder): (DType, ByteOrder)
        switch descr {
        case .string(let s):
            (dtype, byteOrder) = try parseDescr(s, name: name)
        case .list:
            throw NablaError(.unsupported, "\(name): structured dtype (descr is a list of fields) is not supported; nabla reads plain numeric arrays")
        case let other:
            throw malformed("descr is \(other.kind), not a string")
        }

        // fortran_order
        guard case .bool(let fortranOrder) = fortran else {
            throw malformed("fortran_order is \(fortran.kind), not True or False")
        }

        // shape
        guard case .tuple(let dims) = shapeValue else {
            throw malformed("shape is \(shapeValue.kind), not a tuple")
        }
        guard dims.count <= TensorIO.maxRank else {
            throw malformed("shape has \(dims.count) dimensions; NumPy allows at most \(TensorIO.maxRank)")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for (axis, dim) in dims.enumerated() {
            guard case .int(let text, let value) = dim else {
                throw malformed("shape[\(axis)] is \(dim.kind), not an int")
            }
            guard let value else {
                throw malformed("shape[\(axis)] = \(text) is too large")
            }
            guard value >= 0 else {
                throw malformed("shape[\(axis)] = \(value) is negative")
            }
            shape.append(value)
        }
        return NPYHeader(dtype: dtype, byteOrder: byteOrder, fortranOrder: fortranOrder, shape: shape)
    }

    /// Splits a descr such as `'<f4'` into dtype and byte order.
    /// - Throws: `NablaError.unsupported` naming the descr when it is not one nabla reads.
    static func parseDescr(_ descr: String, name: String) throws -> (DType, ByteOrder) {
        var code = Substring(descr)
        var order = ByteOrder.native
        if let first = code.first, "<>|=".contains(first) {
            code = code.dropFirst()
            if first == "<" { order = .little }
            if first == ">" { order = .big }
        }
        guard let dtype = supportedDescrs[String(code)] else {
            throw NablaError(.unsupported,
                "\(name): dtype descr '\(TensorIO.shown(descr))' is not supported (nabla reads f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)")
        }
        if dtype.size == 1 { order = .little }
        return (dtype, order)
    }
}

/// A Python literal as it appears in a .npy header.
indirect enum PythonLiteral: Equatable {
    case string(String)
    /// The digits as written, and the value when it fits in `Int`.
    case int(String, Int?)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    /// Entries in order; keys must be strings.
    case dict([(String, PythonLiteral)])

    /// "a string", "an int", ... for messages.
    var kind: String {
        switch self {
        case .string: "a string"
        case .int: "an int"
        case .bool: "a bool"
        case .none: "None"
        case .tuple: "a tuple"
        case .list: "a list"
        case .dict: "a dict"
        }
    }

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): x == y
        case let (.int(x, _), .int(y, _)): x == y
        case let (.bool(x), .bool(y)): x == y
        case (.none, .none): true
        case let (.tuple(x), .tuple(y)), let (.list(x), .list(y)): x == y
        case let (.dict(x), .dict(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
}
