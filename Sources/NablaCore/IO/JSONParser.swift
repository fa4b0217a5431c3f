// The strict JSON parser that reads safetensors headers.

/// A JSON value from a safetensors header. Not `indirect`: the recursive cases hold
/// arrays, which are already references, and boxing every value would cost one
/// allocation per number and string of a header with hundreds of thousands of entries.
enum JSONValue {
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
        /// Set by `parseTopLevelObject` when the text is valid JSON but not an object:
        /// what it is instead ("an array").
        var topLevelKind: String?
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

    /// Parses one object surrounded only by whitespace, handing each member to `body` as
    /// soon as it is parsed, so that a large header is never held as one tree.
    /// - Throws: `Failure` for text that is not JSON or not an object (`topLevelKind`
    ///   set), and whatever `body` throws.
    mutating func parseTopLevelObject(_ body: (String, JSONValue) throws -> Void) throws {
        skipWhitespace()
        guard peek == UInt8(ascii: "{") else {
            let value = try parseWhole()
            var failure = fail("not an object", at: 0)
            failure.topLevelKind = value.kind
            throw failure
        }
        depth = 1
        try parseMembers(body)
        depth = 0
        skipWhitespace()
        guard pos == bytes.count else { throw fail("unexpected \(describe(pos)) after the end of the JSON value") }
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
        var members: [(String, JSONValue)] = []
        do {
            try parseMembers { members.append(($0, $1)) }
        } catch let failure as Failure {
            throw failure
        } catch {
            preconditionFailure("appending a member cannot fail")
        }
        return .object(members)
    }

    /// The members of the object whose `{` is at `pos`, each handed to `body` as soon as
    /// it is parsed; duplicate keys are refused.
    private mutating func parseMembers(_ body: (String, JSONValue) throws -> Void) throws {
        pos += 1
        var seen: Set<String> = []
        skipWhitespace()
        if peek == UInt8(ascii: "}") { pos += 1; return }
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
            try body(key, try parseValue())
            skipWhitespace()
            if peek == UInt8(ascii: "}") { pos += 1; return }
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
