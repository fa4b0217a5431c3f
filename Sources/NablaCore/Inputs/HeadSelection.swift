/// A subset of an input's heads, by tensor index (0-based): `"0,3,8-11"`.
///
/// The selected heads keep their tensor indices everywhere they are named (summaries,
/// reports, the app); the engine works on them in ascending order.
public struct HeadSelection: Sendable, Equatable, CustomStringConvertible {
    /// Tensor indices, ascending, without repeats.
    public let indices: [Int]

    public init(_ indices: [Int]) {
        precondition(!indices.isEmpty && indices.allSatisfy { $0 >= 0 }, "a head selection names at least one head >= 0")
        self.indices = Array(Set(indices)).sorted()
    }

    /// Parses comma-separated indices and inclusive ranges, e.g. `"0,3,8-11"`.
    /// - Throws: `NablaError.badArgument` naming the part that is not an index or a range.
    public init(parsing text: String) throws {
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let p = part.trimmingCharacters(in: .whitespaces)
            let ends = p.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let a = Int(ends[0]), a >= 0, let b = Int(ends.last!), b >= a,
                  b - a < 1 << 20 else {
                throw NablaError(.badArgument, "head selection '\(text)': '\(p)' is not a head index or a range like 8-11 (0-based, ascending)")
            }
            out += Array(a...b)
        }
        self.init(out)
    }

    /// `"0,3,8-11"`: runs of consecutive indices as ranges.
    public var description: String {
        var parts: [String] = []
        var i = 0
        while i < indices.count {
            var j = i
            while j + 1 < indices.count && indices[j + 1] == indices[j] + 1 { j += 1 }
            parts.append(j > i ? "\(indices[i])-\(indices[j])" : "\(indices[i])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// Checks that every index is below `heads`.
    /// - Throws: `NablaError.badArgument` naming the first index out of range and `what`.
    public func validate(heads: Int, of what: String) throws {
        if let bad = indices.first(where: { $0 >= heads }) {
            throw NablaError(.badArgument, "head selection \(self): head \(bad) is out of range; \(what) has \(heads) heads (0-\(heads - 1))")
        }
    }
}

import Foundation

extension HeadSelection {
    /// Why `head` is out of range for an input of `heads` heads, naming the range of
    /// tensor indices: `head 9 is out of range: the input has 8 heads, 0-7`.
    public static func outOfRange(_ head: Int, heads: Int) -> String {
        "head \(head) is out of range: the input has \(heads) head\(heads == 1 ? "" : "s"), 0-\(heads - 1)"
    }

    /// Why `head` (a tensor index) names none of the loaded heads `headIndices`: out of
    /// range, or (under a head selection) not among the selected ones. The commands, the
    /// app's prompt and its loader all say it this way.
    public static func missing(_ head: Int, headIndices: [Int]) -> String {
        if headIndices == Array(0..<headIndices.count) { return outOfRange(head, heads: headIndices.count) }
        return "head \(head) is not among the selected heads \(HeadSelection(headIndices))"
    }
}
