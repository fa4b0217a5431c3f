import Foundation

/// The pooled attention map of every head for one block shape, with each row sorted and
/// summed so that any threshold can be cut without pooling or multiplying again.
///
/// `probability(h, a, b) = softmax over b of (qa[a] . ka[b] / sqrt(D))` (NABLA.md step 2),
/// rows sum to 1. For the cut (step 3) each row keeps its key blocks sorted ascending by
/// probability (ties by ascending index, as a stable sort does) and the running sums
/// along that order, in `Double`.
///
/// Memory: `20 * heads * N^2` bytes (probabilities, sorted indices, running sums).
public final class PooledMap: @unchecked Sendable {
    public let blocks: BlockGrid
    public let heads: Int
    /// `N`, the side of each head's map.
    public var n: Int { blocks.count }
    /// `[heads, N, N]`.
    public let probs: [Double]
    /// `[heads, N, N]`: per row, key blocks by ascending probability.
    let ascending: [Int32]
    /// `[heads, N, N]`: per row, running sums of the probabilities in `ascending` order.
    let cumulative: [Double]
    /// Wall times of `pool`, `map` and `sort`.
    public let times: StageTimes

    /// Pools `input` into `block` blocks and builds every head's map and sorted rows.
    ///
    /// `isCancelled` is polled between stages; when it returns `true` the work stops and
    /// `nil` is returned (the terminal app drops stale block-shape changes this way).
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    /// - Complexity: O(heads * (S * D + N^2 * D + N^2 log N)), heads and rows in parallel.
    public static func compute(_ input: QKInput, block: BlockShape,
                               isCancelled: () -> Bool = { false }) throws -> PooledMap? {
        let blocks = try BlockGrid(grid: input.grid, block: block)
        var times = StageTimes()
        let pooled = times.measure("pool") { PooledBlocks(input: input, blocks: blocks) }
        if isCancelled() { return nil }
        let probs = times.measure("map") { blockProbabilities(pooled) }
        if isCancelled() { return nil }
        let (asc, cum) = times.measure("sort") { sortRows(probs, heads: pooled.heads, n: blocks.count) }
        return PooledMap(blocks: blocks, heads: pooled.heads, probs: probs, ascending: asc, cumulative: cum, times: times)
    }

    init(blocks: BlockGrid, heads: Int, probs: [Double], ascending: [Int32], cumulative: [Double], times: StageTimes) {
        self.blocks = blocks
        self.heads = heads
        self.probs = probs
        self.ascending = ascending
        self.cumulative = cumulative
        self.times = times
    }

    /// `P[h, a, b]`.
    @inlinable public func probability(head h: Int, query a: Int, key b: Int) -> Double {
        probs[(h * n + a) * n + b]
    }

    // MARK: - Map

    /// `softmax_b(qa[a] . ka[b] / sqrt(D))` for every head, `[heads, N, N]`.
    static func blockProbabilities(_ pooled: PooledBlocks) -> [Double] {
        let n = pooled.blocks.count, d = pooled.headDim, heads = pooled.heads
        let npad = (n + 15) & ~15
        let scale = Double(d).squareRoot()
        // Keys transposed to [heads, D, npad] (zero padded) so the kernel streams columns.
        var kaT = [Double](repeating: 0, count: heads * d * npad)
        for h in 0..<heads {
            for b in 0..<n {
                for j in 0..<d { kaT[(h * d + j) * npad + b] = pooled.ka[(h * n + b) * d + j] }
            }
        }
        var probs = [Double](repeating: 0, count: heads * n * n)
        let chunks = Parallel.chunks(n, minChunk: 16)
        probs.withUnsafeMutableBufferPointer { out in
            pooled.qa.withUnsafeBufferPointer { qa in
                kaT.withUnsafeBufferPointer { kt in
                    Parallel.forEach(heads * chunks.count) { item in
                        let h = item / chunks.count
                        let rows = chunks[item % chunks.count]
                        let scratch = UnsafeMutablePointer<Double>.allocate(capacity: 4 * npad)
                        defer { scratch.deallocate() }
                        let q = qa.baseAddress! + h * n * d
                        let k = kt.baseAddress! + h * d * npad
                        var r = rows.lowerBound
                        while r < rows.upperBound {
                            let m = min(4, rows.upperBound - r)
                            dotRows(q: q + r * d, rows: m, d: d, kT: k, npad: npad, out: scratch)
                            for i in 0..<m {
                                softmaxRow(scratch + i * npad, n: n, scale: scale, into: out.baseAddress! + (h * n + r + i) * n)
                            }
                            r += m
                        }
                    }
                }
            }
        }
        return probs
    }

    /// `out[i, c] = q[i] . kT[:, c]` for `rows <= 4` query rows and all `npad` columns.
    /// - Complexity: O(rows * D * npad); 4 x 16 register tile of `SIMD8<Double>` FMAs.
    @inline(__always)
    static func dotRows(q: UnsafePointer<Double>, rows: Int, d: Int, kT: UnsafePointer<Double>, npad: Int,
                        out: UnsafeMutablePointer<Double>) {
        typealias V = SIMD8<Double>
        let kraw = UnsafeRawPointer(kT)
        let oraw = UnsafeMutableRawPointer(out)
        if rows == 4 {
            var c = 0
            while c < npad {
                var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
                for j in 0..<d {
                    let k0 = kraw.loadUnaligned(fromByteOffset: (j * npad + c) * 8, as: V.self)
                    let k1 = kraw.loadUnaligned(fromByteOffset: (j * npad + c + 8) * 8, as: V.self)
                    let q0 = V(repeating: q[j]), q1 = V(repeating: q[d + j])
                    let q2 = V(repeating: q[2 * d + j]), q3 = V(repeating: q[3 * d + j])
                    a00.addProduct(q0, k0); a01.addProduct(q0, k1)
                    a10.addProduct(q1, k0); a11.addProduct(q1, k1)
                    a20.addProduct(q2, k0); a21.addProduct(q2, k1)
                    a30.addProduct(q3, k0); a31.addProduct(q3, k1)
                }
                oraw.storeBytes(of: a00, toByteOffset: c * 8, as: V.self)
                oraw.storeBytes(of: a01, toByteOffset: (c + 8) * 8, as: V.self)
                oraw.storeBytes(of: a10, toByteOffset: (npad + c) * 8, as: V.self)
                oraw.storeBytes(of: a11, toByteOffset: (npad + c + 8) * 8, as: V.self)
                oraw.storeBytes(of: a20, toByteOffset: (2 * npad + c) * 8, as: V.self)
                oraw.storeBytes(of: a21, toByteOffset: (2 * npad + c + 8) * 8, as: V.self)
                oraw.storeBytes(of: a30, toByteOffset: (3 * npad + c) * 8, as: V.self)
                oraw.storeBytes(of: a31, toByteOffset: (3 * npad + c + 8) * 8, as: V.self)
                c += 16
            }
        } else {
            for i in 0..<rows {
                let qi = q + i * d
                var c = 0
                while c < npad {
                    var a0 = V(), a1 = V()
                    for j in 0..<d {
                        let qv = V(repeating: qi[j])
                        a0.addProduct(qv, kraw.loadUnaligned(fromByteOffset: (j * npad + c) * 8, as: V.self))
                        a1.addProduct(qv, kraw.loadUnaligned(fromByteOffset: (j * npad + c + 8) * 8, as: V.self))
                    }
                    oraw.storeBytes(of: a0, toByteOffset: (i * npad + c) * 8, as: V.self)
                    oraw.storeBytes(of: a1, toByteOffset: (i * npad + c + 8) * 8, as: V.self)
                    c += 16
                }
            }
        }
    }

    /// Divides `dots` by `scale`, subtracts the row maximum, exponentiates and normalises,
    /// in the reference's order of operations.
    @inline(__always)
    static func softmaxRow(_ dots: UnsafeMutablePointer<Double>, n: Int, scale: Double,
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

    // MARK: - Sorted rows

    /// For every row, key indices by ascending probability (ties by index) and running sums.
    static func sortRows(_ probs: [Double], heads: Int, n: Int) -> ([Int32], [Double]) {
        var asc = [Int32](repeating: 0, count: probs.count)
        var cum = [Double](repeating: 0, count: probs.count)
        let rows = heads * n
        let chunks = Parallel.chunks(rows, minChunk: 8)
        asc.withUnsafeMutableBufferPointer { ascP in
            cum.withUnsafeMutableBufferPointer { cumP in
                probs.withUnsafeBufferPointer { p in
                    Parallel.forEach(chunks.count) { item in
                        let sorter = RowSorter(n: n)
                        defer { sorter.deallocate() }
                        for row in chunks[item] {
                            let pr = p.baseAddress! + row * n
                            let ai = ascP.baseAddress! + row * n, ci = cumP.baseAddress! + row * n
                            sorter.argsortAscending(pr, into: ai)
                            var c = 0.0
                            for i in 0..<n {
                                c += pr[Int(ai[i])]
                                ci[i] = c
                            }
                        }
                    }
                }
            }
        }
        return (asc, cum)
    }
}

/// A stable ascending argsort of non-negative `Double` rows, reusing its buffers.
///
/// Non-negative doubles order like their bit patterns, so each value's bits become a
/// 64-bit key whose lowest `k` bits are replaced by the index (`2^k >= n`); an LSD radix
/// sort (8 passes of 8 bits, constant digits skipped) orders the keys. Values that differ
/// only in those low bits land in runs of equal high bits, which a final insertion sort
/// puts in exact (value, index) order, so the result is what a stable sort of the exact
/// values gives.
struct RowSorter {
    let n: Int
    let indexBits: UInt64
    let keys: UnsafeMutablePointer<UInt64>
    let spare: UnsafeMutablePointer<UInt64>
    let histogram: UnsafeMutablePointer<Int32>

    init(n: Int) {
        self.n = n
        indexBits = UInt64(max(1, 64 - (max(n, 2) - 1).leadingZeroBitCount))
        keys = .allocate(capacity: max(n, 1))
        spare = .allocate(capacity: max(n, 1))
        histogram = .allocate(capacity: 8 * 256)
    }

    func deallocate() {
        keys.deallocate()
        spare.deallocate()
        histogram.deallocate()
    }

    /// Writes into `out[0..<n]` the indices of `values[0..<n]` (all `>= +0`) by ascending
    /// value, equal values by ascending index.
    /// - Complexity: O(n) passes of the radix sort, plus O(r^2) per run of r values that
    ///   agree in all but their lowest `k` bits (runs are almost always single values).
    func argsortAscending(_ values: UnsafePointer<Double>, into out: UnsafeMutablePointer<Int32>) {
        let lowMask: UInt64 = (1 << indexBits) - 1
        histogram.initialize(repeating: 0, count: 8 * 256)
        for i in 0..<n {
            let key = (values[i].bitPattern & ~lowMask) | UInt64(i)
            keys[i] = key
            for pass in 0..<8 {
                histogram[pass &* 256 &+ Int((key >> UInt64(8 * pass)) & 255)] &+= 1
            }
        }
        var src = keys, dst = spare
        for pass in 0..<8 {
            let h = histogram + pass * 256
            let shift = UInt64(8 * pass)
            if h[Int((src[0] >> shift) & 255)] == Int32(n) { continue }
            var sum: Int32 = 0
            for d in 0..<256 {
                let c = h[d]
                h[d] = sum
                sum &+= c
            }
            for i in 0..<n {
                let key = src[i]
                let d = Int((key >> shift) & 255)
                dst[Int(h[d])] = key
                h[d] &+= 1
            }
            swap(&src, &dst)
        }
        for i in 0..<n { out[i] = Int32(truncatingIfNeeded: src[i] & lowMask) }
        // Exact order inside runs of keys that agree above the index bits.
        var start = 0
        while start < n {
            var end = start + 1
            while end < n && (src[end] >> indexBits) == (src[start] >> indexBits) { end += 1 }
            if end - start > 1 {
                for i in (start + 1)..<end {
                    let x = out[i]
                    let vx = values[Int(x)]
                    var j = i
                    while j > start {
                        let y = out[j - 1]
                        let vy = values[Int(y)]
                        if vy < vx || (vy == vx && y < x) { break }
                        out[j] = y
                        j -= 1
                    }
                    out[j] = x
                }
            }
            start = end
        }
    }
}
