/// A stable ascending argsort of non-negative `Double` rows, reusing its buffers.
///
/// Non-negative doubles order like their bit patterns. Each value's top bits (sign,
/// exponent and the leading mantissa bits; 32 of them in 4 radix passes of 8 bits for
/// rows up to 1024 values, 33 in 3 passes of 11 bits for longer rows) go into the high
/// half of a 64-bit key and its index into the low 31 bits. An LSD radix sort (constant
/// digits skipped) orders the keys by those bits, ties in input order. Values that agree
/// in all sorted bits (relative difference below about 2^-20) land in runs, which a
/// final insertion sort puts in exact (value, index) order; so the result is what a
/// stable sort of the exact values gives.
struct RowSorter {
    let n: Int
    let digitBits: Int
    let passes: Int
    let keys: UnsafeMutablePointer<UInt64>
    let spare: UnsafeMutablePointer<UInt64>
    let histogram: UnsafeMutablePointer<Int32>

    static let indexBits: UInt64 = 31

    init(n: Int) {
        precondition(n < 1 << 31, "rows are limited to 2^31 blocks")
        self.n = n
        (digitBits, passes) = n > 1024 ? (11, 3) : (8, 4)
        keys = .allocate(capacity: max(n, 1))
        spare = .allocate(capacity: max(n, 1))
        histogram = .allocate(capacity: 1 << digitBits)
    }

    func deallocate() {
        keys.deallocate()
        spare.deallocate()
        histogram.deallocate()
    }

    /// Writes into `out[0..<n]` the indices of `values[0..<n]` (all `>= +0`) by ascending
    /// value, equal values by ascending index.
    /// - Complexity: O(n + 2^digitBits) per radix pass, plus O(r^2) per run of r values
    ///   that agree in all sorted bits (almost always r = 1).
    func argsortAscending(_ values: UnsafePointer<Double>, into out: UnsafeMutablePointer<Int32>) {
        // Two fixed configurations, so that the constants reach the loops.
        if digitBits == 11 {
            radixSort(values, digitBits: 11, passes: 3)
        } else {
            radixSort(values, digitBits: 8, passes: 4)
        }
        writeIndices(values, into: out)
    }

    /// Leaves in `keys` the keys of `values` ordered by their sorted bits, ties in input
    /// order. A digit that is the same in every key (seen from the AND and the OR of all
    /// keys) needs no pass: no histogram is counted for it and nothing moves.
    @inline(__always)
    private func radixSort(_ values: UnsafePointer<Double>, digitBits: Int, passes: Int) {
        let radix = 1 << digitBits, mask = UInt64(radix - 1), db = UInt64(digitBits)
        let ib = RowSorter.indexBits
        // The top `passes * digitBits` bits of the 64-bit pattern (the sign bit is 0).
        let drop = UInt64(64 - passes * digitBits)
        var all: UInt64 = 0, common: UInt64 = ~0
        for i in 0..<n {
            let key = ((values[i].bitPattern >> drop) << ib) | UInt64(i)
            keys[i] = key
            all |= key
            common &= key
        }
        var src = keys, dst = spare
        for pass in 0..<passes {
            let shift = ib + UInt64(pass) * db
            if ((all ^ common) >> shift) & mask == 0 { continue }
            let h = histogram
            h.initialize(repeating: 0, count: radix)
            for i in 0..<n { h[Int((src[i] >> shift) & mask)] &+= 1 }
            var sum: Int32 = 0
            for d in 0..<radix {
                let c = h[d]
                h[d] = sum
                sum &+= c
            }
            for i in 0..<n {
                let key = src[i]
                let d = Int((key >> shift) & mask)
                dst[Int(h[d])] = key
                h[d] &+= 1
            }
            swap(&src, &dst)
        }
        if src != keys { keys.update(from: src, count: n) }
    }

    /// Writes the indices of the sorted `keys` into `out`, in exact (value, index) order.
    @inline(__always)
    private func writeIndices(_ values: UnsafePointer<Double>, into out: UnsafeMutablePointer<Int32>) {
        let ib = RowSorter.indexBits
        let src = keys
        let indexMask: UInt64 = (1 << ib) - 1
        for i in 0..<n { out[i] = Int32(truncatingIfNeeded: src[i] & indexMask) }
        // Exact order inside runs of keys that agree in the sorted bits.
        var start = 0
        while start < n {
            var end = start + 1
            while end < n && (src[end] >> ib) == (src[start] >> ib) { end += 1 }
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
