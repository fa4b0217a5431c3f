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
