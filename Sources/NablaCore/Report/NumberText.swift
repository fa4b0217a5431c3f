import Foundation

// How numbers are written for people, by every report and by the terminal app.

/// `x` with `digits` decimals.
public func fixed(_ x: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", x)
}

/// `x` as a percentage with one decimal, e.g. `12.3%`.
public func percent(_ x: Double) -> String {
    String(format: "%.1f%%", x * 100)
}
