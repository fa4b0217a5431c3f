import Testing
@testable import NablaCore

@Suite("row argsort")
struct RowSorterTests {
    /// The naive stable ascending argsort the radix sort must reproduce.
    static func naive(_ v: [Double]) -> [Int32] {
        v.indices.sorted { v[$0] < v[$1] || (v[$0] == v[$1] && $0 < $1) }.map { Int32($0) }
    }

    @Test("equals a stable sort, with ties and values equal in all but their lowest bits",
          arguments: [1, 2, 3, 7, 64, 255, 256, 257, 1024, 1025, 2100])
    func matchesStableSort(n: Int) {
        var rng = SeededRandom(seed: UInt64(n))
        let sorter = RowSorter(n: n)
        defer { sorter.deallocate() }
        for trial in 0..<20 {
            var v = (0..<n).map { _ in Double.random(in: 0...1, using: &rng) * Double.random(in: 0...1, using: &rng) }
            switch trial % 4 {
            case 1: // many exact ties, including zeros
                v = v.map { ($0 * 8).rounded() / 8 }
            case 2: // neighbours that differ only in the last mantissa bits
                let base = 0.123456789
                v = (0..<n).map { i in Double(bitPattern: base.bitPattern + UInt64((i * 7919) % 13)) }
            case 3: // all equal
                v = [Double](repeating: 0.25, count: n)
            default: break
            }
            var out = [Int32](repeating: -1, count: n)
            v.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { o in
                sorter.argsortAscending(p.baseAddress!, into: o.baseAddress!)
            } }
            #expect(out == Self.naive(v), "n \(n) trial \(trial)")
        }
    }
}
