/// The relative L2 error of `output` against `reference`, per head and overall:
/// `||output - reference||_2 / ||reference||_2`, sums in Double (NABLA.md, "What to
/// derive from a mask": the honest price of a mask).
///
/// Both are `[heads, S, D]` (any token order, as long as it is the same).
/// - Complexity: O(heads * S * D).
public func relativeL2Error(_ output: [Float], reference: [Float], heads: Int) -> (perHead: [Double], overall: Double) {
    precondition(output.count == reference.count && heads > 0 && output.count % heads == 0,
                 "outputs must both be [heads, S, D]")
    let per = output.count / heads
    var num = [Double](repeating: 0, count: heads), den = [Double](repeating: 0, count: heads)
    output.withUnsafeBufferPointer { o in
        reference.withUnsafeBufferPointer { r in
            for h in 0..<heads {
                var e = 0.0, s = 0.0
                for i in (h * per)..<((h + 1) * per) {
                    let diff = Double(o[i]) - Double(r[i])
                    e += diff * diff
                    s += Double(r[i]) * Double(r[i])
                }
                num[h] = e
                den[h] = s
            }
        }
    }
    let perHead = (0..<heads).map { den[$0] > 0 ? (num[$0] / den[$0]).squareRoot() : (num[$0] > 0 ? .infinity : 0) }
    let total = den.reduce(0, +)
    let overall = total > 0 ? (num.reduce(0, +) / total).squareRoot() : 0
    return (perHead, overall)
}
