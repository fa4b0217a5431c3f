import Foundation

/// The pooled attention map of every head for one block shape, kept so that any
/// threshold can be cut without pooling or multiplying again.
///
/// `probability(h, a, b) = softmax over b of (qa[a] . ka[b] / sqrt(D))` (NABLA.md step 2),
/// rows sum to 1, in `Double`. The cut (step 3, `cut(_:)`) selects each row's kept blocks
/// from these probabilities directly (`ThresholdCut`); no sorted copy is kept.
///
/// Memory: `8 * heads * N^2` bytes (the probabilities).
public final class PooledMap: @unchecked Sendable {
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
        let blocks = try BlockGrid(grid: input.grid, block: block)
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
        let n = pooled.blocks.count, d = pooled.headDim, heads = pooled.heads
        let panels = (n + panelWidth - 1) / panelWidth
        let npad = panels * panelWidth
        let scale = Double(d).squareRoot()
        // Keys packed in panels of 8 columns, [heads, panels, D, 8] (zero padded), so the
        // kernel reads each panel front to back.
        var packed = [Double](repeating: 0, count: heads * panels * d * panelWidth)
        for h in 0..<heads {
            for b in 0..<n {
                let dst = ((h * panels + b / panelWidth) * d) * panelWidth + b % panelWidth
                for j in 0..<d { packed[dst + j * panelWidth] = pooled.ka[(h * n + b) * d + j] }
            }
        }
        let chunks = Parallel.chunks(n, minChunk: 2 * tileRows)
        // Set by a work item that saw the cancellation and stopped (items write only their own).
        var stopped = [Bool](repeating: false, count: heads * chunks.count)
        stopped.withUnsafeMutableBufferPointer { stop in
            pooled.qa.withUnsafeBufferPointer { qa in
                packed.withUnsafeBufferPointer { kp in
                    Parallel.forEach(heads * chunks.count) { item in
                        let h = item / chunks.count
                        let rows = chunks[item % chunks.count]
                        let dots = UnsafeMutablePointer<Double>.allocate(capacity: groupTiles * tileRows * npad)
                        let qT = UnsafeMutablePointer<Double>.allocate(capacity: groupTiles * d * tileRows)
                        defer { dots.deallocate(); qT.deallocate() }
                        let q = qa.baseAddress! + h * n * d
                        let k = kp.baseAddress! + h * panels * d * panelWidth
                        var r = rows.lowerBound
                        while r < rows.upperBound {
                            if isCancelled() {
                                stop[item] = true
                                return
                            }
                            let m = min(groupTiles * tileRows, rows.upperBound - r)
                            let tiles = (m + tileRows - 1) / tileRows
                            // Each tile's query rows transposed to [D, 6], missing rows zero.
                            for t in 0..<tiles {
                                let tile = qT + t * d * tileRows
                                for j in 0..<d {
                                    for i in 0..<tileRows {
                                        let row = t * tileRows + i
                                        tile[j * tileRows + i] = row < m ? q[(r + row) * d + j] : 0
                                    }
                                }
                            }
                            // Every tile of the group against one key panel while it is in L1.
                            for p in 0..<panels {
                                let panel = k + p * d * panelWidth
                                for t in 0..<tiles {
                                    dotTile(qT: qT + t * d * tileRows, d: d, panel: panel,
                                            out: dots + t * tileRows * npad + p * panelWidth, stride: npad)
                                }
                            }
                            for i in 0..<m {
                                let row = out.baseAddress! + (h * n + r + i) * n
                                switch exponential {
                                case .vector: softmaxRow(dots + i * npad, n: n, scale: scale, into: row)
                                case .libm: softmaxRowLibm(dots + i * npad, n: n, scale: scale, into: row)
                                }
                            }
                            r += m
                        }
                    }
                }
            }
        }
        return !stopped.contains(true)
    }

    /// How the softmax exponentiates.
    enum Exponential {
        /// `expVector`, eight entries at a time (the engine).
        case vector
        /// libm's `exp`, one entry at a time, summed sequentially (the previous kernel).
        case libm
    }

    static let tileRows = 6
    static let panelWidth = 8
    /// Tiles of query rows that share one pass over the keys: each key panel is read from
    /// L2 or L3 once per 24 query rows instead of once per 6 (the panels of one head,
    /// `8 * N * D` bytes, outgrow L2 from about N = 1000 at D = 128).
    static let groupTiles = 4

    /// `out[i * stride + c] = sum over j of qT[j, i] * panel[j, c]` for a tile of 6 query
    /// rows and one panel of 8 key columns.
    /// - Complexity: O(6 * 8 * D); twelve `SIMD4<Double>` accumulators stay in registers
    ///   (one AVX2 register each), with two panel loads and six broadcasts per step.
    @inline(__always)
    static func dotTile(qT: UnsafePointer<Double>, d: Int, panel: UnsafePointer<Double>,
                        out: UnsafeMutablePointer<Double>, stride: Int) {
        typealias V = SIMD4<Double>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        let kraw = UnsafeRawPointer(panel)
        for j in 0..<d {
            let b0 = kraw.loadUnaligned(fromByteOffset: j * 64, as: V.self)
            let b1 = kraw.loadUnaligned(fromByteOffset: j * 64 + 32, as: V.self)
            let a = qT + j * 6
            let a0 = V(repeating: a[0]), a1 = V(repeating: a[1]), a2 = V(repeating: a[2])
            c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            let a3 = V(repeating: a[3]), a4 = V(repeating: a[4]), a5 = V(repeating: a[5])
            c30.addProduct(a3, b0); c31.addProduct(a3, b1)
            c40.addProduct(a4, b0); c41.addProduct(a4, b1)
            c50.addProduct(a5, b0); c51.addProduct(a5, b1)
        }
        let o = UnsafeMutableRawPointer(out)
        let s = stride * 8
        o.storeBytes(of: c00, toByteOffset: 0, as: V.self); o.storeBytes(of: c01, toByteOffset: 32, as: V.self)
        o.storeBytes(of: c10, toByteOffset: s, as: V.self); o.storeBytes(of: c11, toByteOffset: s + 32, as: V.self)
        o.storeBytes(of: c20, toByteOffset: 2 * s, as: V.self); o.storeBytes(of: c21, toByteOffset: 2 * s + 32, as: V.self)
        o.storeBytes(of: c30, toByteOffset: 3 * s, as: V.self); o.storeBytes(of: c31, toByteOffset: 3 * s + 32, as: V.self)
        o.storeBytes(of: c40, toByteOffset: 4 * s, as: V.self); o.storeBytes(of: c41, toByteOffset: 4 * s + 32, as: V.self)
        o.storeBytes(of: c50, toByteOffset: 5 * s, as: V.self); o.storeBytes(of: c51, toByteOffset: 5 * s + 32, as: V.self)
    }

    /// Divides `dots[0..<n]` by `scale`, subtracts the row maximum, exponentiates and
    /// normalises, in the reference's order of operations (`dot / sqrt(D)`, then
    /// `exp(l - max)`, then `e / sum`), writing `out[0..<n]`. `dots` must be readable
    /// up to `n` rounded up to a multiple of 8 (the padded panel width).
    ///
    /// The maximum is taken over the raw dots and divided once: division by a positive
    /// number is monotone and so is its rounding, so `max(d) / s == max(d / s)` bit for
    /// bit. The exponentials come from `expVector` (within 2 ulp of libm's `exp`); their
    /// sum runs in eight `Double` lanes added in a fixed order at the end (error at most
    /// `(n / 8 + 3) * 2^-53` relative, Higham section 4.2), so a row's result does not
    /// depend on how rows are split among threads.
    /// - Complexity: O(N): three passes over the row, eight entries per step.
    @inline(__always)
    static func softmaxRow(_ dots: UnsafeMutablePointer<Double>, n: Int, scale: Double,
                           into out: UnsafeMutablePointer<Double>) {
        typealias V = SIMD8<Double>
        let raw = UnsafeMutableRawPointer(dots)
        let whole = n & ~7
        var mv = V(repeating: -.infinity)
        var b = 0
        while b < whole {
            let v = raw.loadUnaligned(fromByteOffset: b * 8, as: V.self)
            mv = mv.replacing(with: v, where: v .> mv)
            b += 8
        }
        var top = -Double.infinity
        for i in 0..<8 { top = Swift.max(top, mv[i]) }
        for i in whole..<n { top = Swift.max(top, dots[i]) }
        let m = top / scale
        let mvec = V(repeating: m)
        let o = UnsafeMutableRawPointer(out)
        var acc = V()
        // When sqrt(D) is a power of two (D = 16, 64, 256, ...), multiplying by its inverse
        // is exact and so equals the division bit for bit; it is much cheaper.
        let inverse = 1 / scale
        if inverse * scale == 1, scale.significandBitPattern == 0 {
            let iv = V(repeating: inverse)
            b = 0
            while b < whole {
                let e = expVector(raw.loadUnaligned(fromByteOffset: b * 8, as: V.self) * iv - mvec)
                o.storeBytes(of: e, toByteOffset: b * 8, as: V.self)
                acc += e
                b += 8
            }
        } else {
            let sv = V(repeating: scale)
            b = 0
            while b < whole {
                let e = expVector(raw.loadUnaligned(fromByteOffset: b * 8, as: V.self) / sv - mvec)
                o.storeBytes(of: e, toByteOffset: b * 8, as: V.self)
                acc += e
                b += 8
            }
        }
        if whole < n {
            // The last partial group: lanes past n exponentiate -infinity to 0.
            var x = V(repeating: -.infinity)
            for i in whole..<n { x[i - whole] = dots[i] / scale - m }
            let e = expVector(x)
            for i in whole..<n { out[i] = e[i - whole] }
            acc += e
        }
        let a4 = acc.lowHalf + acc.highHalf
        let a2 = a4.lowHalf + a4.highHalf
        let sum = a2[0] + a2[1]
        let total = V(repeating: sum)
        b = 0
        while b < whole {
            o.storeBytes(of: o.loadUnaligned(fromByteOffset: b * 8, as: V.self) / total, toByteOffset: b * 8, as: V.self)
            b += 8
        }
        for i in whole..<n { out[i] /= sum }
    }

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
