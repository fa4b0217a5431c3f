import Synchronization
import CNablaKernels
import Foundation

/// The pooled attention map of every head for one block shape, kept so that any
/// threshold can be cut without pooling or multiplying again.
///
/// `probability(h, a, b) = softmax over b of (qa[a] . ka[b] / sqrt(D) + log(count_b / B))`
/// (NABLA.md step 2; the last term, zero for a whole block, lets a partial edge block's
/// estimated mass scale with its real token count as its true mass does), rows sum to 1,
/// in `Double`. The cut (step 3, `cut(_:)`) selects each row's kept blocks
/// from these probabilities directly (`ThresholdCut`); no sorted copy is kept.
///
/// Memory: `8 * heads * N^2` bytes (the probabilities).
public final class PooledMap: @unchecked Sendable {
    private static let nextID = Atomic<Int>(1)

    /// A number no other map of this process has: what the app keys cuts, panels and
    /// prefetches on (an `ObjectIdentifier` may be reused once a map is freed).
    public typealias ID = Int
    public let id: ID = PooledMap.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    public let blocks: BlockGrid
    public let heads: Int
    /// `N`, the side of each head's map.
    public var n: Int { blocks.count }
    /// `[heads, N, N]`.
    public let probs: [Double]
    /// Wall times of `pool` and `map`.
    public let times: StageTimes

    /// Pools `input` into `block` blocks and builds every head's map.
    ///
    /// `isCancelled` is polled between stages and, during the map, by the worker threads
    /// before every group of 24 query rows (so it must be safe to call concurrently); when
    /// it returns `true` the work stops and `nil` is returned (the terminal app drops stale
    /// block-shape changes this way).
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    /// - Complexity: O(heads * (S * D + N^2 * D)), heads and rows in parallel.
    public static func compute(_ input: QKInput, block: BlockShape,
                               isCancelled: () -> Bool = { false }) throws -> PooledMap? {
        let blocks = try input.blockGrid(block)
        var times = StageTimes()
        let pooled = times.measure("pool") { PooledBlocks(input: input, blocks: blocks) }
        if isCancelled() { return nil }
        guard let probs = times.measure("map", { blockProbabilities(pooled, isCancelled: isCancelled) }) else { return nil }
        return PooledMap(blocks: blocks, heads: pooled.heads, probs: probs, times: times)
    }

    /// The map of already pooled vectors (all their heads), timing `map` only.
    /// - Complexity: O(heads * N^2 * D).
    public static func compute(_ pooled: PooledBlocks) -> PooledMap {
        guard let map = compute(pooled, isCancelled: { false }) else { preconditionFailure("an uncancellable map was cancelled") }
        return map
    }

    /// The map of already pooled vectors (for one head: `compute(pooled.head(h), ...)`),
    /// timing `map` only, or `nil` when `isCancelled` returned `true`.
    ///
    /// `isCancelled` is polled by the worker threads before every group of 24 query rows
    /// (about 0.3 ms of work at N = 5040, D = 64), possibly from several threads at once,
    /// so it must be safe to call concurrently (read an atomic or a lock-protected flag).
    /// - Complexity: O(heads * N^2 * D).
    public static func compute(_ pooled: PooledBlocks, isCancelled: () -> Bool) -> PooledMap? {
        var storage: [Double] = []
        return compute(pooled, reusing: &storage, isCancelled: isCancelled)
    }

    /// `compute(pooled, isCancelled:)` writing into the memory of `storage` when it holds
    /// exactly `heads * N^2` elements and nothing else refers to it (pass the previous
    /// head's `map.probs` after dropping that map), so computing head after head does
    /// not map, fault in and zero a fresh `8 * N^2` bytes for every head. Otherwise a
    /// new array is used. `storage` is left empty.
    /// - Complexity: O(heads * N^2 * D).
    public static func compute(_ pooled: PooledBlocks, reusing storage: inout [Double],
                               isCancelled: () -> Bool = { false }) -> PooledMap? {
        let count = pooled.heads * pooled.blocks.count * pooled.blocks.count
        var probs = storage
        storage = []
        if probs.count != count { probs = [] }
        var times = StageTimes()
        let complete = times.measure("map") { () -> Bool in
            if probs.count == count {
                return probs.withUnsafeMutableBufferPointer { fillProbabilities(pooled, into: $0, isCancelled: isCancelled) }
            }
            var done = false
            probs = .filledLarge(count: count) { done = fillProbabilities(pooled, into: $0, isCancelled: isCancelled) }
            return done
        }
        guard complete else { return nil }
        return PooledMap(blocks: pooled.blocks, heads: pooled.heads, probs: probs, times: times)
    }

    /// A map from given probabilities, `[heads, N, N]`, each row in `[0, 1]` summing to
    /// about 1 (tests cut hand-made rows through it).
    init(blocks: BlockGrid, heads: Int, probs: [Double], times: StageTimes = StageTimes()) {
        precondition(probs.count == heads * blocks.count * blocks.count, "probabilities must be [heads, N, N]")
        self.blocks = blocks
        self.heads = heads
        self.probs = probs
        self.times = times
    }

    /// `P[h, a, b]`.
    @inlinable public func probability(head h: Int, query a: Int, key b: Int) -> Double {
        probs[(h * n + a) * n + b]
    }

    // MARK: - Map

    /// `softmax_b(qa[a] . ka[b] / sqrt(D))` for every head, `[heads, N, N]`, or `nil` when
    /// `isCancelled` (polled before every group of query rows) returned `true`.
    /// `exponential: .libm` is the previous kernel (libm's `exp` entry by entry and a
    /// sequential sum), which `nabla bench` times as the same-run baseline of the map.
    static func blockProbabilities(_ pooled: PooledBlocks, exponential: Exponential = .vector,
                                   isCancelled: () -> Bool = { false }) -> [Double]? {
        var done = false
        // Every row is written by the softmax (unless cancelled, when the array is dropped).
        let probs = [Double].filledLarge(count: pooled.heads * pooled.blocks.count * pooled.blocks.count) {
            done = fillProbabilities(pooled, into: $0, exponential: exponential, isCancelled: isCancelled)
        }
        return done ? probs : nil
    }

    /// Writes `softmax_b(qa[a] . ka[b] / sqrt(D))` for every head into `out`
    /// (`[heads, N, N]`, every element written) and returns `true`, or returns `false`
    /// as soon as `isCancelled` (polled before every group of query rows) returns `true`.
    static func fillProbabilities(_ pooled: PooledBlocks, into out: UnsafeMutableBufferPointer<Double>,
                                  exponential: Exponential = .vector, isCancelled: () -> Bool) -> Bool {
        precondition(out.count == pooled.heads * pooled.blocks.count * pooled.blocks.count, "probabilities must be [heads, N, N]")
        let n = pooled.blocks.count, heads = pooled.heads
        let scale = Double(pooled.headDim).squareRoot()
        // Partial key blocks: logit + log(count / B), as one more dimension (1 in every
        // query, scale * log(count / B) in every key), so the kernels stay as they are.
        let (qa, ka, d) = withKeyLogitOffsets(pooled, scale: scale)
        // The kernel level is read here, on the caller's task, and handed to the workers.
        let kernels = KernelVariant.current.table
        let width = Int(kernels.pointee.map_panel)
        let panels = (n + width - 1) / width
        // Keys packed in panels of the level's width, [heads, panels, D, width] (zero
        // padded), so the kernel reads each panel front to back.
        var packed = [Double](repeating: 0, count: heads * panels * d * width)
        packed.withUnsafeMutableBufferPointer { dst in
            ka.withUnsafeBufferPointer { ka in
                for h in 0..<heads {
                    kernels.pointee.map_pack_keys(ka.baseAddress! + h * n * d, Int32(n), Int32(d),
                                                  dst.baseAddress! + h * panels * d * width)
                }
            }
        }
        let group = groupRows
        let chunks = Parallel.chunks(n, minChunk: group)
        // Set by a work item that saw the cancellation and stopped (items write only their own).
        var stopped = [Bool](repeating: false, count: heads * chunks.count)
        let softmax: Int32 = exponential == .vector ? 1 : 0
        stopped.withUnsafeMutableBufferPointer { stop in
            qa.withUnsafeBufferPointer { qa in
                packed.withUnsafeBufferPointer { kp in
                    Parallel.forEach(heads * chunks.count) { item in
                        let h = item / chunks.count
                        let rows = chunks[item % chunks.count]
                        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: nabla_map_scratch(Int32(group), Int32(n), Int32(d)))
                        defer { scratch.deallocate() }
                        let q = qa.baseAddress! + h * n * d
                        let k = kp.baseAddress! + h * panels * d * width
                        var r = rows.lowerBound
                        while r < rows.upperBound {
                            if isCancelled() {
                                stop[item] = true
                                return
                            }
                            let m = min(group, rows.upperBound - r)
                            let row = out.baseAddress! + (h * n + r) * n
                            kernels.pointee.map_rows(q + r * d, Int32(m), Int32(d), k, Int32(n), scale, softmax, scratch, row)
                            if softmax == 0 {
                                for i in 0..<m { softmaxRowLibm(row + i * n, n: n, scale: scale, into: row + i * n) }
                            }
                            r += m
                        }
                    }
                }
            }
        }
        return !stopped.contains(true)
    }

    /// The pooled vectors the map kernels read, `[heads, N, D']`: `pooled.qa`, `pooled.ka`
    /// and `D' = D` for uniform blocks; for partial edge blocks one dimension more, 1 in
    /// every query and `scale * log(count_b / B)` in key `b`, so that
    /// `q'.k'_b / scale = q.k_b / scale + log(count_b / B)`.
    static func withKeyLogitOffsets(_ pooled: PooledBlocks, scale: Double) -> (qa: [Double], ka: [Double], d: Int) {
        let d = pooled.headDim
        guard let offsets = pooled.blocks.keyLogitOffsets() else { return (pooled.qa, pooled.ka, d) }
        let rows = pooled.heads * pooled.blocks.count, n = pooled.blocks.count
        var qa = [Double](repeating: 1, count: rows * (d + 1)), ka = [Double](repeating: 0, count: rows * (d + 1))
        for r in 0..<rows {
            for j in 0..<d {
                qa[r * (d + 1) + j] = pooled.qa[r * d + j]
                ka[r * (d + 1) + j] = pooled.ka[r * d + j]
            }
            ka[r * (d + 1) + d] = scale * offsets[r % n]
        }
        return (qa, ka, d + 1)
    }

    /// How the softmax exponentiates.
    enum Exponential {
        /// The kernels' vector exp (`nabla_kernels.map_rows`, the engine).
        case vector
        /// libm's `exp`, one entry at a time, summed sequentially (the previous kernel).
        case libm
    }

    /// Query rows per call of the map kernel: each key panel is read from L2 or L3 once per
    /// 24 query rows (the panels of one head, `8 * N * D` bytes, outgrow L2 from about
    /// N = 1000 at D = 128), and cancellation is polled as often.
    static let groupRows = 24

    /// `softmaxRow` with libm's `exp` one entry at a time and a sequential sum: the
    /// previous kernel, kept as the same-run baseline of `nabla bench`.
    static func softmaxRowLibm(_ dots: UnsafeMutablePointer<Double>, n: Int, scale: Double,
                               into out: UnsafeMutablePointer<Double>) {
        var m = -Double.infinity
        for b in 0..<n {
            let l = dots[b] / scale
            dots[b] = l
            m = Swift.max(m, l)
        }
        var sum = 0.0
        for b in 0..<n {
            let e = Foundation.exp(dots[b] - m)
            out[b] = e
            sum += e
        }
        for b in 0..<n { out[b] /= sum }
    }
}
