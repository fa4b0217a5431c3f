/// The median of `values`: the middle value, or the mean of the two middle values of an
/// even count; `0` for none.
///
/// - Complexity: O(n log n) (it sorts a copy).
public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// `x` rounded to 3 decimals (the JSON reports' precision for times and ratios).
func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
