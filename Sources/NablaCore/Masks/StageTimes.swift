import Foundation

/// Wall time of the named stages of one computation, in milliseconds, in run order.
public struct StageTimes: Sendable, Equatable {
    public var stages: [(name: String, ms: Double)] = []

    public init(_ stages: [(name: String, ms: Double)] = []) { self.stages = stages }

    /// The sum over stages.
    public var total: Double { stages.reduce(0) { $0 + $1.ms } }

    /// The time of `name`, or `nil`.
    public subscript(name: String) -> Double? { stages.first { $0.name == name }?.ms }

    /// Runs `body`, appends its wall time as `name`, and returns its result.
    @discardableResult
    public mutating func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        let result = try body()
        stages.append((name, (ContinuousClock.now - start).milliseconds))
        return result
    }

    public static func + (a: StageTimes, b: StageTimes) -> StageTimes { StageTimes(a.stages + b.stages) }

    public static func == (a: StageTimes, b: StageTimes) -> Bool {
        a.stages.map(\.name) == b.stages.map(\.name) && a.stages.map(\.ms) == b.stages.map(\.ms)
    }
}
