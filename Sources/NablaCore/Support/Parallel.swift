import Dispatch
import Foundation

/// Runs independent work items across the machine's cores.
enum Parallel {
    /// Calls `body(i)` for `i` in `0..<count`, concurrently when there is more than one item.
    /// `body` must only write memory no other item writes. The caller's task-local
    /// settings (`Inherited`) hold inside `body` on every thread.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 {
            for i in 0..<count { body(i) }
        } else {
            let inherited = Inherited()
            // concurrentPerform returns only when every item has run, so `body` does not
            // escape; the box states that the caller's disjoint writes make it safe to share.
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendable(body)
                if inherited.isEmpty {
                    DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: count) { i in inherited.bind { shared.value(i) } }
                }
            }
        }
    }

    /// The task-local values a caller may set that work on worker threads must see too:
    /// dispatch's threads run outside the caller's task and do not inherit its locals, so
    /// without this a forced kernel level (`KernelVariant.with`) or a read counter would
    /// silently not apply to the items that happen to run off the calling thread.
    struct Inherited: @unchecked Sendable {
        let variant = KernelVariant.override
        let readCounter = FileBytes.readCounter
        let chunkSize = FileBytes.chunkSize
        let spanBytes = HeadRead.spanBytes
        var isEmpty: Bool {
            variant == nil && readCounter == nil && chunkSize == FileBytes.defaultChunkSize
                && spanBytes == HeadRead.defaultSpanBytes
        }
        func bind(_ body: () -> Void) {
            KernelVariant.$override.withValue(variant) {
                FileBytes.$readCounter.withValue(readCounter) {
                    FileBytes.$chunkSize.withValue(chunkSize) {
                        HeadRead.$spanBytes.withValue(spanBytes, operation: body)
                    }
                }
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

/// Hands out the indices `0, 1, 2, ...` in order to workers that share it (each index
/// once), for work loops whose items differ in cost (`HeadRead`'s spans, `StreamedPool`'s
/// slabs).
final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = 0
    /// The next index, `nil` once `count` have been handed out.
    func next(below count: Int) -> Int? {
        lock.withLock {
            guard taken < count else { return nil }
            taken += 1
            return taken - 1
        }
    }
}

/// A value shared across threads on the caller's word that the sharing is safe.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension Array {
    /// An array of `count` elements that `body` must initialise, every one of them,
    /// without a zero-filling pass first. On Linux, arrays of 4 MiB and more are first
    /// marked for transparent huge pages (`madvise(MADV_HUGEPAGE)`, honoured when
    /// `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or `madvise`), so filling
    /// a map of gigabytes takes one page fault per 2 MiB instead of one per 4 KiB.
    /// - Complexity: O(1) besides `body`.
    static func filledLarge(count: Int, _ body: (UnsafeMutableBufferPointer<Element>) -> Void) -> [Element] {
        [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            #if os(Linux)
            let bytes = count * MemoryLayout<Element>.stride
            if bytes >= 4 << 20, let base = buffer.baseAddress {
                let page = 2 << 20
                let start = (Int(bitPattern: base) + page - 1) & ~(page - 1)
                let end = (Int(bitPattern: base) + bytes) & ~(page - 1)
                if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) {
                    _ = madvise(p, end - start, 14)  // MADV_HUGEPAGE; advice only, failures are harmless
                }
            }
            #endif
            body(buffer)
            initialized = count
        }
    }
}
