

/// A recursive-descent parser for the Python literals NumPy writes in .npy headers:
/// strings in `'` or `"`, ints (with an optional Python 2 `L`), `True`, `False`, `None`,
/// tuples (`()`, `(5,)`, `(2, 3)`), lists and dicts with string keys, trailing commas
/// and whitespace. Nesting is capped so hostile input cannot exhaust the stack.
struct PythonLiteralParser {
    struct Failure: Error {
        var message: String
        /// Character offset into the header text.
        var offset: Int
    }

    static let maxDepth = 32

    private let text: [Unicode.Scalar]
    private var pos = 0
    private var depth = 0

    init(_ text: [Unicode.Scalar]) {
        self.text = text
    }

    /// Parses one literal surrounded only by whitespace.
    mutating func parseWhole() throws(Failure) -> PythonLiteral {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard pos == text.count else {
            throw fail("unexpected \(describe(pos)) after the end of the literal")
        }
        return value
    }

    private func fail(_ message: String, at offset: Int? = nil) -> Failure {
        Failure(message: message, offset: offset ?? pos)
    }

    private func describe(_ i: Int) -> String {
        guard i < text.count else { return "end of header" }
        let c = text[i]
        if c.value >= 0x20 && c.value < 0x7F { return "'\(Character(c))'" }
        return "character U+\(String(c.value, radix: 16, uppercase: true))"
    }

    private var peek: Unicode.Scalar? { pos < text.count ? text[pos] : nil }

    private mutating func skipWhitespace() {
        while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" { pos += 1 }
    }

    private mutating func parseValue() throws(Failure) -> PythonLiteral {
        guard let c = peek else { throw fail("expected a value but found end of header") }
        switch c {
        case "'", "\"":
            return .string(try parseString())
        case "u", "U", "b", "B", "r", "R":
            // Python 2 style u'...' prefixes (no raw or bytes semantics needed for descr).
            if pos + 1 < text.count, text[pos + 1] == "'" || text[pos + 1] == "\"" {
                pos += 1
                return .string(try parseString())
            }
            return try parseWord()
        case "(", "[", "{":
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
            if c == "(" { return try parseParenthesized() }
            if c == "[" { return .list(try parseSequence(close: "]")) }
            return try parseDict()
        case "+", "-", "0"..."9":
            return try parseInt()
        default:
            return try parseWord()
        }
    }

    private mutating func parseWord() throws(Failure) -> PythonLiteral {
        let start = pos
        while let c = peek, c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) { pos += 1 }
        let word = String(String.UnicodeScalarView(text[start..<pos]))
        switch word {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .none
        case "": throw fail("expected a value but found \(describe(start))", at: start)
        default: throw fail("unexpected name '\(word.prefix(40))'", at: start)
        }
    }

    private mutating func parseString() throws(Failure) -> String {
        let start = pos
        let quote = text[pos]
        pos += 1
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek, c != "\n" else { throw fail("unterminated string", at: start) }
            pos += 1
            if c == quote { return String(out) }
            guard c == "\\" else { out.append(c); continue }
            guard let e = peek else { throw fail("unterminated string", at: start) }
            pos += 1
            switch e {
            case "\\", "'", "\"": out.append(e)
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "0": out.append("\0")
            case "\n": break // line continuation
            case "x", "u", "U":
                let digits = e == "x" ? 2 : e == "u" ? 4 : 8
                guard pos + digits <= text.count,
                      let v = UInt32(String(String.UnicodeScalarView(text[pos..<pos + digits])), radix: 16),
                      let scalar = Unicode.Scalar(v) else {
                    throw fail("bad \\\(e) escape in string", at: pos - 2)
                }
                pos += digits
                out.append(scalar)
            default:
                out.append("\\")
                out.append(e)
            }
        }
    }

    private mutating func parseInt() throws(Failure) -> PythonLiteral {
        let start = pos
        var negative = false
        if let c = peek, c == "+" || c == "-" {
            negative = c == "-"
            pos += 1
            skipWhitespace()
        }
        let digitsStart = pos
        var value: Int? = 0
        while let c = peek, ("0"..."9").contains(c) {
            let digit = Int(c.value - 48)
            if let v = value {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
                value = o1 || o2 ? nil : s
            }
            pos += 1
        }
        guard pos > digitsStart else { throw fail("expected digits after sign", at: start) }
        let digits = String(String.UnicodeScalarView(text[digitsStart..<pos]))
        if let c = peek, c == "L" || c == "l" { pos += 1 }
        return .int((negative ? "-" : "") + digits, value)
    }

    /// `()` empty tuple, `(x)` just `x`, `(x,)` and `(x, y)` tuples.
    private mutating func parseParenthesized() throws(Failure) -> PythonLiteral {
        pos += 1 // (
        skipWhitespace()
        if peek == ")" { pos += 1; return .tuple([]) }
        let first = try parseValue()
        skipWhitespace()
        if peek == ")" { pos += 1; return first }
        guard peek == "," else { throw fail("expected ',' or ')' but found \(describe(pos))") }
        pos += 1
        var items = [first]
        items += try parseSequence(close: ")", opened: false)
        return .tuple(items)
    }

    /// Items up to `close`, allowing a trailing comma. Expects `pos` at the opening
    /// bracket when `opened` is true, else just after a comma.
    private mutating func parseSequence(close: Unicode.Scalar, opened: Bool = true) throws(Failure) -> [PythonLiteral] {
        if opened { pos += 1 }
        var items: [PythonLiteral] = []
        while true {
            skipWhitespace()
            if peek == close { pos += 1; return items }
            items.append(try parseValue())
            skipWhitespace()
            if peek == close { pos += 1; return items }
            guard peek == "," else { throw fail("expected ',' or '\(Character(close))' but found \(describe(pos))") }
            pos += 1
        }
    }

    private mutating func parseDict() throws(Failure) -> PythonLiteral {
        pos += 1 // {
        var entries: [(String, PythonLiteral)] = []
        var seen: Set<String> = []
        while true {
            skipWhitespace()
            if peek == "}" { pos += 1; return .dict(entries) }
            let keyStart = pos
            guard case .string(let key) = try parseValue() else {
                throw fail("dict key is not a string", at: keyStart)
            }
            guard seen.insert(key).inserted else {
                throw fail("duplicate key '\(TensorIO.shown(key))'", at: keyStart)
            }
            skipWhitespace()
            guard peek == ":" else { throw fail("expected ':' after key '\(TensorIO.shown(key))' but found \(describe(pos))") }
            pos += 1
            skipWhitespace()
            entries.append((key, try parseValue()))
            skipWhitespace()
            if peek == "}" { pos += 1; return .dict(entries) }
            guard peek == "," else { throw fail("expected ',' or '}' but found \(describe(pos))") }
            pos += 1
        }
    }
}
