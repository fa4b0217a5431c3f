/// The CDF cut of one pooled-map row by selection instead of a full sort (NABLA.md step 3).
///
/// The cut keeps the key blocks whose running sum, in ascending (probability, index)
/// order, is `>= 1 - thr`, and always the last (largest) one. Only the blocks near the
/// cut need to be in order: the rest are counted and summed in buckets of their bit
/// patterns (1/16 of a binade each), the buckets are walked from the smallest until the
/// running sum crosses `1 - thr`, and only the bucket holding the crossing is sorted.
///
/// Exactness: a running sum formed bucket by bucket differs from the one a stable sort
/// and a sequential sum form (the previous engine, and the reference's `np.cumsum`) by at
/// most `(2N + buckets) * 2^-53` times the row's mass (Higham, *Accuracy and Stability of
/// Numerical Algorithms*, 2nd ed., section 4.2, for sums of non-negative terms). Every
/// comparison with `1 - thr` (and of the margin with `BlockMask.ambiguousMargin`) that
/// is closer than twice that bound is handed to the exact path (a full stable sort and a
/// sequential running sum), so the kept set, the cut position and the ambiguous-row count
/// are exactly the sorted cut's. The margin the fast path reports is within that bound
/// (about 3e-12 at N = 5040) of the sequential one.
///
/// One `ThresholdCut` serves one thread; its buffers are reused row after row.
struct ThresholdCut {
    let n: Int
    /// `[2, buckets]` counts and sums (even and odd positions), zero between rows.
    let counts: UnsafeMutablePointer<Int32>
    let sums: UnsafeMutablePointer<Double>
    /// `[N]`: the boundary bucket's blocks, then (exact path) the sorted row.
    let order: UnsafeMutablePointer<Int32>
    /// `[N]`: each block's bucket, from the counting pass.
    let bucketOf: UnsafeMutablePointer<UInt16>
    let sorter: RowSorter
    /// Fast-path decisions closer than this to `1 - thr` go to the exact path.
    let tolerance: Double

    /// Buckets of 1/16 binade below 1.0: 64 binades, down to 2^-64 (all smaller values
    /// share bucket 0).
    static let buckets = 1024
    /// The top 16 bits of 1.0's pattern; probabilities never exceed 1.
    static let topKey = Int(1.0.bitPattern >> 48)

    init(n: Int) {
        self.n = n
        counts = .allocate(capacity: 2 * Self.buckets)
        counts.initialize(repeating: 0, count: 2 * Self.buckets)
        sums = .allocate(capacity: 2 * Self.buckets)
        sums.initialize(repeating: 0, count: 2 * Self.buckets)
        order = .allocate(capacity: max(n, 1))
        bucketOf = .allocate(capacity: max(n, 1))
        sorter = RowSorter(n: n)
        tolerance = Double(4 * n + 2 * Self.buckets + 64) * 0x1p-53
    }

    /// Runs `body` on rows `0..<rows` of `n` blocks, in parallel chunks, each chunk with a
    /// scratch `ThresholdCut` of its own (freed when the chunk is done).
    static func eachRow(_ rows: Int, n: Int, _ body: (ThresholdCut, Int) -> Void) {
        let chunks = Parallel.chunks(rows, minChunk: 16)
        Parallel.forEach(chunks.count) { item in
            let rowCut = ThresholdCut(n: n)
            defer { rowCut.deallocate() }
            for row in chunks[item] { body(rowCut, row) }
        }
    }

    func deallocate() {
        counts.deallocate()
        sums.deallocate()
        order.deallocate()
        bucketOf.deallocate()
        sorter.deallocate()
    }

    /// The bucket of probability `v` (`0 <= v <= 1`): ordered like `v`.
    @inline(__always)
    static func bucket(_ v: Double) -> Int {
        let k = Int(truncatingIfNeeded: v.bitPattern >> 48) &- (topKey &- (buckets &- 1))
        return Swift.min(Swift.max(k, 0), buckets &- 1)
    }

    /// Writes every block's bucket into `bucketOf` (eight at a time) and returns the
    /// smallest and the largest bucket of the row (`n >= 1`).
    @inline(__always)
    func bucketRow(_ p: UnsafePointer<Double>) -> (lo: Int, hi: Int) {
        typealias K = SIMD8<Int32>
        let raw = UnsafeRawPointer(p), out = UnsafeMutableRawPointer(bucketOf)
        let offset = K(repeating: Int32(Self.topKey - (Self.buckets - 1)))
        let zero = K(repeating: 0), top = K(repeating: Int32(Self.buckets - 1))
        var lo = top, hi = zero
        var b = 0
        while b + 8 <= n {
            let bits = raw.loadUnaligned(fromByteOffset: b * 8, as: SIMD8<UInt64>.self) &>> 48
            var k = K(truncatingIfNeeded: bits) &- offset
            k.replace(with: zero, where: k .< zero)
            k.replace(with: top, where: k .> top)
            out.storeBytes(of: SIMD8<UInt16>(truncatingIfNeeded: k), toByteOffset: b * 2, as: SIMD8<UInt16>.self)
            lo.replace(with: k, where: k .< lo)
            hi.replace(with: k, where: k .> hi)
            b += 8
        }
        var l = Int(lo.min()), h = Int(hi.max())
        while b < n {
            let k = Self.bucket(p[b])
            bucketOf[b] = UInt16(truncatingIfNeeded: k)
            l = Swift.min(l, k)
            h = Swift.max(h, k)
            b += 1
        }
        return (l, h)
    }

    /// Writes the blocks whose bucket is `key` into `order`, ascending. Sixteen buckets
    /// are compared at a time and only groups holding a match are walked (the boundary
    /// bucket holds few of the row's blocks).
    @inline(__always)
    func gatherBucket(_ key: UInt16) {
        typealias K = SIMD16<UInt16>
        let raw = UnsafeRawPointer(bucketOf)
        let wanted = K(repeating: key)
        var filled = 0, b = 0
        while b + 16 <= n {
            if any(raw.loadUnaligned(fromByteOffset: b * 2, as: K.self) .== wanted) {
                for i in b..<(b + 16) where bucketOf[i] == key {
                    order[filled] = Int32(truncatingIfNeeded: i)
                    filled += 1
                }
            }
            b += 16
        }
        for i in b..<n where bucketOf[i] == key {
            order[filled] = Int32(truncatingIfNeeded: i)
            filled += 1
        }
    }

    /// Cuts row `p[0..<n]` (probabilities in `[0, 1]`) at running sum `cutAt = 1 - thr`:
    /// writes 1 into `out[b]` for kept blocks and 0 for the others, and returns the
    /// row's margin (distance of the nearest running sum, the last excluded, to `cutAt`).
    /// - Complexity: O(N + buckets) plus O(m log m) for the m blocks of the bucket
    ///   holding the cut; O(N log N)-like (a radix sort) on the rare exact path.
    func cut(_ p: UnsafePointer<Double>, cutAt: Double, into out: UnsafeMutablePointer<UInt8>) -> Double {
        let n = self.n
        guard n > 0 else { return .infinity }
        if cutAt <= 0 {
            // Every running sum is >= 0 >= cutAt: all kept; the first sum is the minimum.
            var least = p[0]
            for b in 0..<n {
                out[b] = 1
                least = Swift.min(least, p[b])
            }
            return n >= 2 ? abs(least - cutAt) : .infinity
        }
        let (lo, hi) = bucketRow(p)
        // Two histograms, one for even and one for odd positions, so that a run of blocks
        // in one bucket forms two chains of dependent updates instead of one; merged below.
        let counts2 = counts + Self.buckets, sums2 = sums + Self.buckets
        var b = 0
        while b + 2 <= n {
            let k0 = Int(bucketOf[b]), k1 = Int(bucketOf[b + 1])
            counts[k0] &+= 1
            sums[k0] += p[b]
            counts2[k1] &+= 1
            sums2[k1] += p[b + 1]
            b += 2
        }
        if b < n {
            let k = Int(bucketOf[b])
            counts[k] &+= 1
            sums[k] += p[b]
        }
        var mass = 0.0
        for k in lo...hi {
            counts[k] &+= counts2[k]
            sums[k] += sums2[k]
            counts2[k] = 0
            sums2[k] = 0
            mass += sums[k]
        }
        defer {
            for k in lo...hi {
                counts[k] = 0
                sums[k] = 0
            }
        }
        let tol = tolerance * Swift.max(1, mass)
        // Walk the buckets up to the one whose mass carries the running sum past cutAt.
        var below = 0.0, before = 0, j = lo
        while j <= hi {
            let s = sums[j]
            if below + s >= cutAt { break }
            below += s
            before += Int(counts[j])
            j += 1
        }
        if j > hi {
            // No running sum reaches cutAt: only the last position (the largest block,
            // the highest index among equals) is kept, and no sum is near the cut.
            guard cutAt - below > tol else { return exactCut(p, cutAt: cutAt, into: out) }
            var best = 0
            for b in 0..<n {
                out[b] = 0
                if p[b] >= p[best] { best = b }
            }
            out[best] = 1
            return .infinity
        }
        guard cutAt - below > tol else { return exactCut(p, cutAt: cutAt, into: out) }
        // The boundary bucket in exact (value, index) order.
        let m = Int(counts[j])
        let boundaryKey = UInt16(truncatingIfNeeded: j)
        gatherBucket(boundaryKey)
        var boundary = UnsafeMutableBufferPointer(start: order, count: m)
        boundary.sort { x, y in
            let vx = p[Int(x)], vy = p[Int(y)]
            return vx < vy || (vx == vy && x < y)
        }
        var c = below, local = 0, next = below
        while local < m {
            next = c + p[Int(order[local])]
            guard abs(next - cutAt) > tol else { return exactCut(p, cutAt: cutAt, into: out) }
            if next >= cutAt { break }
            c = next
            local += 1
        }
        guard local < m else { return exactCut(p, cutAt: cutAt, into: out) }
        let position = before + local
        var margin = Double.infinity
        if position >= 1, position - 1 <= n - 2 { margin = Swift.min(margin, abs(c - cutAt)) }
        if position <= n - 2 { margin = Swift.min(margin, abs(next - cutAt)) }
        guard abs(margin - BlockMask.ambiguousMargin) > tol else { return exactCut(p, cutAt: cutAt, into: out) }
        for b in 0..<n { out[b] = bucketOf[b] > boundaryKey ? 1 : 0 }
        for i in local..<m { out[Int(order[i])] = 1 }
        return margin
    }

    /// The cut by a full stable sort and sequential running sums: the definition.
    /// - Complexity: O(N) radix passes plus the running sum.
    func exactCut(_ p: UnsafePointer<Double>, cutAt: Double, into out: UnsafeMutablePointer<UInt8>) -> Double {
        let n = self.n
        sorter.argsortAscending(p, into: order)
        // The first position whose running sum reaches cutAt, and the sums either side.
        var c = 0.0, position = n, previous = 0.0, atPosition = 0.0
        for i in 0..<n {
            let next = c + p[Int(order[i])]
            if next >= cutAt {
                position = i
                previous = c
                atPosition = next
                break
            }
            c = next
        }
        if position == n { previous = c }
        for b in 0..<n { out[b] = 0 }
        for i in Swift.min(position, n - 1)..<n { out[Int(order[i])] = 1 }
        var margin = Double.infinity
        if position >= 1, position - 1 <= n - 2 { margin = Swift.min(margin, abs(previous - cutAt)) }
        if position <= n - 2 { margin = Swift.min(margin, abs(atPosition - cutAt)) }
        return margin
    }
}
