import Dispatch
import Foundation

/// Runs independent work items across the machine's cores.
enum Parallel {
    /// Calls `body(i)` for `i` in `0..<count`, concurrently when there is more than one item.
    /// `body` must only write memory no other item writes.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            for i in 0..<count { body(i) }
        } else {
            // concurrentPerform returns only when every item has run, so `body` does not
            // escape; the box states that the caller's disjoint writes make it safe to share.
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
            }
        }
    }

    /// Splits `0..<n` into about `4 * cores` contiguous chunks of at least `minChunk`
    /// and returns them; more chunks than cores lets dispatch balance uneven items.
    static func chunks(_ n: Int, minChunk: Int = 1) -> [Range<Int>] {
        guard n > 0 else { return [] }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let target = max(1, min(n / max(minChunk, 1), 4 * cores))
        let size = (n + target - 1) / target
        return stride(from: 0, to: n, by: size).map { $0..<min($0 + size, n) }
    }
}

/// A value shared across threads on the caller's word that the sharing is safe.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

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
        let d = ContinuousClock.now - start
        stages.append((name, Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15))
        return result
    }

    public static func + (a: StageTimes, b: StageTimes) -> StageTimes { StageTimes(a.stages + b.stages) }

    public static func == (a: StageTimes, b: StageTimes) -> Bool {
        a.stages.map(\.name) == b.stages.map(\.name) && a.stages.map(\.ms) == b.stages.map(\.ms)
    }
}
