import Foundation
import Testing
@testable import NablaCore

/// The pooled map's kernels of every level this machine runs (exp, the softmax row, the tiled product and
/// the mask statistics) against naive references written here: libm's `exp`, a sequential
/// softmax, dot products one term at a time, and counts over the mask entry by entry.
@Suite("pooled map kernels")
struct MapKernelTests {
    /// Units in the last place of `x` (the spacing above |x|; the smallest subnormal at 0).
    static func ulp(_ x: Double) -> Double { x == 0 ? Double.leastNonzeroMagnitude : abs(x).ulp }

    @Test("every kernel level's exp is within 2 ulp of libm's exp over [-746, 0] (3 without FMA), exactly 1 at 0 and 0 far below",
          arguments: KernelVariant.supported)
    func expAgainstLibm(variant: KernelVariant) {
        // Without FMA (baseline) the polynomial's last step rounds twice: one more ulp.
        let ulps: Double = variant.name == "baseline" ? 3 : 2
        var rng = SeededRandom(seed: 31)
        var xs: [Double] = [0, -0.0, -1e-300, -Double.leastNonzeroMagnitude, -1e-17, -1e-9, -0.5 * log(2.0), 0.5 * -log(2.0) - 1e-12,
                            -log(2.0), -1, -2, -10, -100, -700, -708.3, -708.39, -708.4, -709, -720, -740, -745, -745.13,
                            -745.2, -746, -750, -1000, -1e300, -.infinity]
        for _ in 0..<20_000 { xs.append(-Double.random(in: 0...746, using: &rng)) }
        for _ in 0..<5_000 { xs.append(-Double.random(in: 0...1, using: &rng) * pow(10, Double.random(in: -20...0, using: &rng))) }
        // Points where the reduction's n changes: odd multiples of ln2 / 2.
        for k in 0..<1076 where k % 37 == 0 {
            let x = -(Double(k) + 0.5) * log(2.0)
            xs += [x, x.nextUp, x.nextDown]
        }
        let got = variant.exp(xs)
        var worstNormal = 0.0
        for (x, e) in zip(xs, got) {
            let reference = Foundation.exp(x)
            let error = abs(e - reference)
            if reference >= Double.leastNormalMagnitude {
                worstNormal = max(worstNormal, error / Self.ulp(reference))
                #expect(error <= ulps * Self.ulp(reference), "\(variant): exp(\(x)) = \(e), libm \(reference)")
            } else {
                #expect(error <= Double.leastNonzeroMagnitude, "exp(\(x)) = \(e), libm \(reference) (subnormal)")
            }
            #expect(e >= 0)
        }
        #expect(worstNormal < ulps)
        #expect(variant.exp([0, -0.0]) == [1, 1])
        #expect(variant.exp([-746, -800, -1e308, -.infinity]) == [0, 0, 0, 0])
    }

    @Test("every kernel level's exp is monotone across the reduction's breakpoints", arguments: KernelVariant.supported)
    func expMonotone(variant: KernelVariant) {
        var xs: [Double] = []
        for k in 0..<40 {
            let x = -(Double(k) + 0.5) * log(2.0)
            var y = x
            for _ in 0..<8 { y = y.nextDown }
            for _ in 0..<16 {
                xs.append(y)
                y = y.nextUp
            }
        }
        let e = variant.exp(xs)
        for i in 1..<xs.count where xs[i] > xs[i - 1] { #expect(e[i] >= e[i - 1]) }
    }

    /// `softmax(dots / scale)` as NABLA.md states it: libm's exp and a sequential sum.
    static func naiveSoftmax(_ dots: [Double], scale: Double) -> [Double] {
        let l = dots.map { $0 / scale }
        let m = l.max()!
        let e = l.map { Foundation.exp($0 - m) }
        var s = 0.0
        for v in e { s += v }
        return e.map { $0 / s }
    }

    static func softmaxRow(_ dots: [Double], scale: Double, variant: KernelVariant) -> [Double] {
        let n = dots.count
        var padded = dots + [Double](repeating: 0, count: 8)
        var out = [Double](repeating: .nan, count: n + 8)
        padded.withUnsafeMutableBufferPointer { d in
            out.withUnsafeMutableBufferPointer { o in
                variant.softmaxRow(d.baseAddress!, n: n, scale: scale, into: o.baseAddress!)
            }
        }
        // Nothing is written past n.
        let untouched = out[n...].allSatisfy { $0.isNaN }
        #expect(untouched)
        return Array(out[0..<n])
    }

    @Test("every kernel level's softmax row equals a naive softmax for lengths 1 to 70 and extreme logits",
          arguments: KernelVariant.supported, [1, 2, 7, 8, 9, 15, 16, 17, 33, 64, 70])
    func softmaxAgainstNaive(variant: KernelVariant, n: Int) {
        var rng = SeededRandom(seed: UInt64(n))
        var rows: [[Double]] = []
        rows.append((0..<n).map { _ in Double.random(in: -20...20, using: &rng) })
        rows.append((0..<n).map { _ in Double.random(in: -1e4...1e4, using: &rng) })        // most entries underflow
        rows.append((0..<n).map { _ in 1e300 * Double.random(in: -1...1, using: &rng) })     // huge logits of both signs
        rows.append([Double](repeating: 3.25, count: n))                                     // all tied
        rows.append((0..<n).map { Double($0 % 3) })                                           // ties in groups
        rows.append((0..<n).map { $0 == n / 2 ? 5990 : 0 })                                   // exp(-748.75) under one entry: 0
        rows.append((0..<n).map { $0 == n - 1 ? 5660 : Double.random(in: -1...1, using: &rng) }) // subnormal results
        // sqrt(64) = 8 takes the exact multiplication by 1/8, sqrt(72) the division.
        for row in rows { for scale in [Double(64).squareRoot(), Double(72).squareRoot()] {
            let got = Self.softmaxRow(row, scale: scale, variant: variant)
            let want = Self.naiveSoftmax(row, scale: scale)
            var sum = 0.0
            for (g, w) in zip(got, want) {
                // exp within 2 ulp on both sides, the sum's reordering within (n + 8) ulp.
                let bound = Double(n + 12) * 0x1p-52 * w + 4 * Double.leastNonzeroMagnitude
                #expect(abs(g - w) <= bound, "n \(n): \(g) vs \(w)")
                #expect(g >= 0 && g <= 1)
                sum += g
            }
            #expect(abs(sum - 1) <= Double(2 * n + 12) * 0x1p-52)
        } }
    }

    /// Pooled vectors with `n` blocks (a `1 x 1 x n` grid of 1x1x1 blocks).
    static func pooled(n: Int, d: Int, heads: Int, seed: UInt64, spread: Double) throws -> PooledBlocks {
        var rng = SeededRandom(seed: seed)
        let blocks = try BlockGrid(grid: TokenGrid(t: 1, h: 1, w: n), block: BlockShape(bt: 1, bh: 1, bw: 1))
        let qa = (0..<(heads * n * d)).map { _ in Double.random(in: -spread...spread, using: &rng) }
        let ka = (0..<(heads * n * d)).map { _ in Double.random(in: -spread...spread, using: &rng) }
        return PooledBlocks(blocks: blocks, heads: heads, headDim: d, qa: qa, ka: ka)
    }

    @Test("every kernel level's tiled map equals naive dot products and softmax (N not a multiple of the tile, D 40 to 128)",
          arguments: KernelVariant.supported, [(1, 40), (5, 64), (13, 72), (47, 128), (50, 64), (97, 40)])
    func tiledMap(variant: KernelVariant, shape: (Int, Int)) throws {
        let (n, d) = shape
        for spread in [0.3, 3.0, 40.0] {
            let pooled = try Self.pooled(n: n, d: d, heads: 2, seed: UInt64(n * 131 + d), spread: spread)
            let map = KernelVariant.with(variant) { PooledMap.compute(pooled) }
            for h in 0..<2 {
                for a in 0..<n {
                    var dots: [Double] = [], worst = 0.0
                    for b in 0..<n {
                        var s = 0.0, magnitude = 0.0
                        for j in 0..<d {
                            let t = pooled.qa[(h * n + a) * d + j] * pooled.ka[(h * n + b) * d + j]
                            s += t
                            magnitude += abs(t)
                        }
                        dots.append(s)
                        worst = max(worst, magnitude)
                    }
                    // Dot products summed in another order differ by at most 2 D u sum|q k|
                    // (Higham 3.1) each; a logit error e changes a probability by a factor
                    // e^(+-e), through its own logit, the maximum and the normaliser.
                    let scale = Double(d).squareRoot()
                    let logit = 2 * Double(d) * 0x1p-53 * worst / scale
                    let relative = 3.1 * logit + Double(n + 12) * 0x1p-52
                    let want = Self.naiveSoftmax(dots, scale: scale)
                    for b in 0..<n {
                        let p = map.probability(head: h, query: a, key: b)
                        #expect(abs(p - want[b]) <= relative * want[b] + 1e-300, "h \(h) a \(a) b \(b)")
                    }
                    #expect(relative < 1e-9)  // the bound itself stays meaningful
                }
            }
        }
    }

    @Test("a head's map is the same alone, and a cancelled map is nil")
    func perHeadAndCancel() throws {
        let pooled = try Self.pooled(n: 61, d: 64, heads: 3, seed: 5, spread: 2)
        let all = PooledMap.compute(pooled)
        for h in 0..<3 {
            let one = try #require(PooledMap.compute(pooled.head(h), isCancelled: { false }))
            #expect(one.probs == Array(all.probs[(h * 61 * 61)..<((h + 1) * 61 * 61)]))
        }
        // Written into reused memory (of the right size, holding garbage, or of another size).
        for start in [[Double](repeating: .nan, count: 61 * 61), [Double](repeating: 7, count: 5), []] {
            var storage = start
            let reused = try #require(PooledMap.compute(pooled.head(1), reusing: &storage))
            #expect(reused.probs == Array(all.probs[(61 * 61)..<(2 * 61 * 61)]))
            #expect(storage.isEmpty)
        }
        #expect(PooledMap.compute(pooled, isCancelled: { true }) == nil)
        // Cancelled part-way: some tiles ran, then the flag turned.
        let polls = Counter()
        #expect(PooledMap.compute(pooled, isCancelled: { polls.next() > 3 }) == nil)
        #expect(polls.value > 3)
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var value = 0
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }

    @Test("statistics of random masks equal counts entry by entry (slabs not a multiple of 8)")
    func statisticsOfRandomMasks() throws {
        var rng = SeededRandom(seed: 77)
        for (grid, block) in [(TokenGrid(t: 5, h: 12, w: 20), BlockShape(bt: 1, bh: 4, bw: 4)),
                              (TokenGrid(t: 3, h: 16, w: 16), BlockShape.nabla),
                              (TokenGrid(t: 2, h: 36, w: 36), BlockShape(bt: 1, bh: 4, bw: 4))] {
            let input = randomInput(grid: grid, heads: 2, headDim: 16, seed: rng.next())
            let map = try #require(try PooledMap.compute(input, block: block))
            let n = map.n, tb = map.blocks.tb, per = map.blocks.blocksPerSlab
            for density in [0.0, 0.1, 0.5, 0.93, 1.0] {
                let kept = (0..<(2 * n * n)).map { _ in UInt8(Double.random(in: 0..<1, using: &rng) < density ? 1 : 0) }
                let margin = (0..<(2 * n)).map { _ in Double.random(in: 0..<2e-5, using: &rng) }
                let stats = MaskStatistics(kept: kept, map: map, margin: margin)
                for h in 0..<2 {
                    var count = 0, mass = 0.0
                    var cov = [Int](repeating: 0, count: tb * tb)
                    for a in 0..<n {
                        for b in 0..<n where kept[(h * n + a) * n + b] != 0 {
                            count += 1
                            mass += map.probability(head: h, query: a, key: b)
                            cov[(a / per) * tb + b / per] += 1
                        }
                    }
                    #expect(stats.keptBlocks[h] == count)
                    // Both sums are of non-negative terms: sequential within (N^2 - 1) u,
                    // the engine's within (N + N/8 + 3) u, relative to the mass (Higham 4.2).
                    let bound = Double(n * n + n + n / 8 + 5) * 0x1p-53 * mass / Double(n)
                    #expect(abs(stats.massKept[h] - mass / Double(n)) <= bound)
                    for i in 0..<(tb * tb) { #expect(stats.frameCoverage[h * tb * tb + i] == Double(cov[i]) / Double(per * per)) }
                }
                #expect(stats.ambiguousRows == margin.filter { $0 < BlockMask.ambiguousMargin }.count)
            }
        }
    }
}
