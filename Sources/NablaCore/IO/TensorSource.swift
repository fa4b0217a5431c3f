import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A tensor named on a command line: "PATH.npy", "PATH.safetensors:KEY", or "PATH.safetensors"
/// when the file holds exactly one tensor. Decide by content/extension sensibly: a path that
/// exists as given wins over splitting at the last ':'.
///
/// Parsing rules, in order: a spec that exists as a file (or directory) is a path; else
/// the first split at a ':' whose left part exists is `PATH:KEY` (so keys may contain
/// ':'); else a spec ending in `.npy`, `.safetensors`, `.npz`, `.pt` or `.pth` is a path; else it is split at
/// the last ':'. An empty key (`qk.safetensors:`) means no key.
public struct TensorSource: Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var key: String?
    /// Indices into the tensor's leading axes (a whole-model dump's layer and step axes,
    /// `--axes` letters `l` and `n`): the source is that slice. `[]`: the whole tensor.
    public var index: [Int] = []

    public init(path: String, key: String? = nil) {
        self.path = path
        self.key = key
    }

    /// Parses a command-line spec; looks at the file system to resolve ':'.
    public init(parsing spec: String) {
        func exists(_ p: String) -> Bool { !p.isEmpty && FileManager.default.fileExists(atPath: p) }
        func split(_ i: String.Index) -> (String, String?) {
            let k = String(spec[spec.index(after: i)...])
            return (String(spec[..<i]), k.isEmpty ? nil : k)
        }
        if exists(spec) || !spec.contains(":") {
            (path, key) = (spec, nil)
            return
        }
        let colons = spec.indices.filter { spec[$0] == ":" }
        if let i = colons.first(where: { exists(String(spec[..<$0])) }) {
            (path, key) = split(i)
            return
        }
        let lower = spec.lowercased()
        if [".npy", ".safetensors", ".npz", ".pt", ".pth"].contains(where: { lower.hasSuffix($0) }) {
            (path, key) = (spec, nil)
            return
        }
        (path, key) = split(colons[colons.count - 1])
    }

    /// Loads the tensor (see `TensorFile` for how the format is decided). Without a key,
    /// a safetensors file must hold exactly one tensor.
    /// - Throws: `NablaError.fileUnreadable`, `.malformedFile`, `.unsupported` from the
    ///   readers; `.missingTensor` for a key the file lacks (listing the keys it has), a
    ///   key on a .npy file, or no key for a multi-tensor file; `.unsupported` for a file
    ///   that is neither format.
    public func load() throws -> RawTensor {
        try TensorFile.open(path: path).planned(key, index: index).load()
    }

    /// As the user would write it: `q.npy` or `qk.safetensors:q`.
    public var description: String {
        (key.map { "\(path):\($0)" } ?? path) + (index.isEmpty ? "" : "[\(index.map(String.init).joined(separator: ", "))]")
    }

    /// `description` for messages: control characters escaped (`Shown.path`), since a
    /// key comes from a file and may hold a newline.
    var shown: String { Shown.path(description) }
}

// MARK: - Helpers shared by the readers and writers

enum TensorIO {
    /// Element count and byte size of `shape` at `itemSize` bytes per element, multiplied
    /// left to right like `RawTensor.count`; `nil` on overflow or a negative dimension.
    static func checkedSizes(shape: [Int], itemSize: Int) -> (count: Int, bytes: Int)? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = p
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: itemSize)
        return overflow ? nil : (count, bytes)
    }

    /// Checks a writer's arguments: non-negative dims whose product is `count`.
    /// - Throws: `NablaError.badShape` naming `file`, the shape and the count.
    static func checkValueCount(_ count: Int, shape: [Int], itemSize: Int, file: String, tensor: String? = nil) throws {
        let what = tensor.map { "tensor '\(TensorIO.shown($0))' in \(file)" } ?? file
        let shown = shapeText(shape)
        if let d = shape.firstIndex(where: { $0 < 0 }) {
            throw NablaError(.badShape, "cannot write \(what): shape \(shown) has negative dimension \(shape[d])")
        }
        guard shape.count <= maxRank else {
            throw NablaError(.badShape, "cannot write \(what): shape \(shown) has more than \(maxRank) dimensions")
        }
        guard let (expected, _) = checkedSizes(shape: shape, itemSize: itemSize) else {
            throw NablaError(.badShape, "cannot write \(what): shape \(shown) has too many elements")
        }
        guard expected == count else {
            throw NablaError(.badShape, "cannot write \(what): shape \(shown) holds \(expected) elements but \(count) values were given")
        }
    }

    /// Appends `values` as little-endian bit patterns, where `bits` gives the bit pattern
    /// that is also each value's in-memory representation (`Float.bitPattern`, identity
    /// for integers), so a little-endian machine copies the array's bytes in one go.
    static func appendLittleEndian<T: BitwiseCopyable, Bits: FixedWidthInteger>(
        _ values: [T], to out: inout [UInt8], bits: (T) -> Bits
    ) {
        precondition(MemoryLayout<T>.size == MemoryLayout<Bits>.size, "bits must reinterpret, not convert")
        if ByteOrder.native == .little {
            values.withUnsafeBytes { out.append(contentsOf: $0) }
            return
        }
        out.reserveCapacity(out.count + values.count * MemoryLayout<Bits>.size)
        for v in values {
            withUnsafeBytes(of: bits(v).littleEndian) { out.append(contentsOf: $0) }
        }
    }

    /// The most dimensions a tensor may have (NumPy's `NPY_MAXDIMS` is 64).
    static let maxRank = 64

    /// A shape for a one-line message: `[2, 3]` (`(2, 3)` when `python`); past 8
    /// dimensions the middle is elided and the rank given, `[1, 1, 1, 1, 1, 1, ..., 1] (100000 dimensions)`.
    static func shapeText(_ shape: [Int], python: Bool = false) -> String {
        let (open, close) = python ? ("(", ")") : ("[", "]")
        if shape.count <= 8 {
            if python && shape.count == 1 { return "(\(shape[0]),)" }
            return open + shape.map(String.init).joined(separator: ", ") + close
        }
        let head = shape.prefix(6).map(String.init).joined(separator: ", ")
        return "\(open)\(head), ..., \(shape[shape.count - 1])\(close) (\(shape.count) dimensions)"
    }

    /// `s` fit for a one-line message: control and line-separator characters escaped
    /// (`\n`, `\u{7F}`), at most `limit` characters (then `...`).
    static func shown(_ s: String, limit: Int = 80) -> String {
        var out = ""
        var count = 0
        for c in s.unicodeScalars {
            if count == limit { return out + "..." }
            count += 1
            switch c {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where c.value < 0x20 || (0x7F...0x9F).contains(c.value) || c.value == 0x2028 || c.value == 0x2029:
                out += "\\u{\(String(c.value, radix: 16, uppercase: true))}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// `a, b, c` for messages, at most 20 keys.
    static func keyList(_ keys: [String]) -> String {
        if keys.isEmpty { return "none" }
        let shown = keys.prefix(20).map { TensorIO.shown($0) }.joined(separator: ", ")
        return keys.count > 20 ? "\(shown), ... (\(keys.count - 20) more)" : shown
    }
}
