/// A JSON value that keeps the order of object keys: the one JSON writer, for reports
/// people read and for the headers of files nabla writes (safetensors).
///
/// Text follows RFC 8259: strings escape `"`, `\\` and control characters; non-finite
/// numbers are written as `null`.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// Non-finite numbers are written as `null` (JSON has no NaN or infinity).
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.rendered() == b.rendered() }

    /// JSON text on one line: `{"a": 1, "b": [2, 3]}`, or without the spaces after `,`
    /// and `:` when `compact` (`{"a":1,"b":[2,3]}`, as safetensors headers are written).
    public func rendered(compact: Bool = false) -> String {
        var out = ""
        write(to: &out, comma: compact ? "," : ", ", colon: compact ? ":" : ": ")
        return out
    }

    private func write(to out: inout String, comma: String, colon: String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .number(let d):
            if !d.isFinite { out += "null" } else if d == d.rounded(), abs(d) < 1e15 { out += String(Int(d)) } else { out += "\(d)" }
        case .string(let s): JSON.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += comma }
                item.write(to: &out, comma: comma, colon: colon)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += comma }
                JSON.writeString(key, to: &out)
                out += colon
                value.write(to: &out, comma: comma, colon: colon)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029:
                // C0, DEL, C1 and the line separators escaped too: no terminal control
                // from a printed file name (`Shown`).
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
