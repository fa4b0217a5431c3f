import Foundation
import Testing
@testable import NablaCore

/// The selection cut against the definition: a naive stable sort, a sequential running
/// sum, keep from the first sum `>= 1 - thr` (the last position always), margin the
/// nearest sum (the last excluded) to `1 - thr`; as NABLA.md and the reference state it.
@Suite("CDF cut by selection")
struct ThresholdCutTests {
    struct Naive: Equatable {
        var kept: [UInt8]
        var margin: Double
    }

    /// Written for the test, independent of the engine.
    static func naive(_ row: [Double], threshold: Double) -> Naive {
        let n = row.count
        let order = row.indices.sorted { row[$0] < row[$1] || (row[$0] == row[$1] && $0 < $1) }
        let cutAt = 1 - threshold
        var sums: [Double] = []
        var c = 0.0
        for b in order {
            c += row[b]
            sums.append(c)
        }
        let first = sums.firstIndex { $0 >= cutAt } ?? n
        var kept = [UInt8](repeating: 0, count: n)
        for i in min(first, n - 1)..<n { kept[order[i]] = 1 }
        // The nearest sums sit either side of the first crossing (the sums ascend).
        var margin = Double.infinity
        if first >= 1, first - 1 <= n - 2 { margin = min(margin, abs(sums[first - 1] - cutAt)) }
        if first <= n - 2 { margin = min(margin, abs(sums[first] - cutAt)) }
        return Naive(kept: kept, margin: margin)
    }

    /// Cuts `rows` (each of length `n`, one head) through the engine.
    static func engine(_ rows: [[Double]], threshold: Double) throws -> BlockMask {
        let n = rows[0].count
        let blocks = try BlockGrid(grid: TokenGrid(t: 1, h: 1, w: n), block: BlockShape(bt: 1, bh: 1, bw: 1))
        // A map whose first `rows.count` rows are the test's and the rest copies of row 0.
        var probs: [Double] = []
        for a in 0..<n { probs += rows[a % rows.count] }
        return PooledMap(blocks: blocks, heads: 1, probs: probs).cut(MaskSettings(threshold: threshold))
    }

    /// Softmax of random logits of spread `scale`: peaked rows like pooled maps.
    static func softmaxRow(_ n: Int, scale: Double, rng: inout SeededRandom) -> [Double] {
        let logits = (0..<n).map { _ in Double(rng.normal(1)) * scale }
        let m = logits.max()!
        let e = logits.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func check(_ rows: [[Double]], threshold: Double, _ what: String) throws {
        let mask = try engine(rows, threshold: threshold)
        let n = rows[0].count
        for (a, row) in rows.enumerated() {
            let expected = naive(row, threshold: threshold)
            let kept = Array(mask.kept[(a * n)..<((a + 1) * n)])
            let differs = kept.indices.first { kept[$0] != expected.kept[$0] }
            #expect(differs == nil, "\(what): row \(a), thr \(threshold): block \(differs ?? -1) differs")
            let m = mask.margin[a]
            if expected.margin.isInfinite {
                #expect(m.isInfinite, "\(what): row \(a) margin")
            } else {
                #expect(abs(m - expected.margin) <= 1e-11, "\(what): row \(a) margin \(m) vs \(expected.margin)")
            }
            #expect((m < BlockMask.ambiguousMargin) == (expected.margin < BlockMask.ambiguousMargin))
        }
    }

    @Test("random peaked rows equal the sorted cut at every threshold", arguments: [1, 2, 3, 17, 256, 1050, 2049])
    func randomRows(n: Int) throws {
        var rng = SeededRandom(seed: UInt64(n) &* 7 &+ 1)
        let rows = (0..<min(n, 24)).map { i in Self.softmaxRow(n, scale: [0.3, 1, 3, 8, 20][i % 5], rng: &rng) }
        for threshold in [0, 0.05, 0.4, 0.7, 0.9, 0.97, 0.999999, 1] {
            try Self.check(rows, threshold: threshold, "n \(n)")
        }
    }

    @Test("ties keep the same block as a stable ascending sort (the higher index)")
    func ties() throws {
        var rng = SeededRandom(seed: 5)
        // Values on a coarse lattice: many exact ties, the cut often inside a run of equals.
        let n = 300
        let rows: [[Double]] = (0..<12).map { i in
            let raw = (0..<n).map { _ in (Double(rng.normal(1)).magnitude * Double(1 + i % 4)).rounded(.down) + 1 }
            let s = raw.reduce(0, +)
            return raw.map { $0 / s }
        }
        for threshold in stride(from: 0.0, through: 1.0, by: 0.037) {
            try Self.check(rows, threshold: threshold, "lattice")
        }
        // All equal: the kept set is a suffix of the indices.
        try Self.check([[Double](repeating: 1.0 / 64, count: 64)], threshold: 0.5, "uniform")
        try Self.check([[Double](repeating: 0.1, count: 10)], threshold: 0.3, "uniform, exact tenths")
    }

    @Test("rows whose running sum lands on, just below or just above 1 - thr")
    func nearTheThreshold() throws {
        var rng = SeededRandom(seed: 11)
        for n in [5, 64, 1000] {
            let rows = (0..<8).map { i in Self.softmaxRow(n, scale: Double(1 + i), rng: &rng) }
            for row in rows {
                // Thresholds placed exactly at running sums of the sorted row, and one ulp
                // and 1e-13 either side: the decisions a fast path gets wrong first.
                let sorted = row.sorted()
                var c = 0.0
                var sums: [Double] = []
                for v in sorted { c += v; sums.append(c) }
                for i in [0, n / 3, n / 2, n - 2].filter({ $0 >= 0 && $0 < n }) {
                    for cutAt in [sums[i], sums[i].nextUp, sums[i].nextDown, sums[i] + 1e-13, sums[i] - 1e-13,
                                  sums[i] + 1.5e-5, sums[i] - 0.9e-5] where (0...1).contains(1 - cutAt) {
                        try Self.check([row], threshold: 1 - cutAt, "n \(n) sum \(i)")
                    }
                }
            }
        }
    }

    @Test("the fast path and the exact path agree on rows that decide clearly")
    func exactPath() {
        var rng = SeededRandom(seed: 3)
        let n = 700
        let cut = ThresholdCut(n: n)
        defer { cut.deallocate() }
        var fast = [UInt8](repeating: 9, count: n), exact = fast
        for i in 0..<40 {
            let row = Self.softmaxRow(n, scale: Double(i % 7 + 1), rng: &rng)
            let thr = Double(i) / 40
            row.withUnsafeBufferPointer { p in
                let mf = fast.withUnsafeMutableBufferPointer { cut.cut(p.baseAddress!, cutAt: 1 - thr, into: $0.baseAddress!) }
                let me = exact.withUnsafeMutableBufferPointer { cut.exactCut(p.baseAddress!, cutAt: 1 - thr, into: $0.baseAddress!) }
                #expect(fast == exact, "row \(i)")
                #expect(abs(mf - me) <= 1e-11 || (mf.isInfinite && me.isInfinite), "row \(i) margin")
            }
            #expect(fast == Self.naive(row, threshold: thr).kept)
        }
    }
}

@Suite("mask computed head by head")
struct StreamedMaskTests {
    @Test("head by head equals all heads at once: mask, margins, statistics, rows")
    func streamedEqualsKept() throws {
        let input = randomInput(grid: TokenGrid(t: 3, h: 16, w: 16), heads: 3, headDim: 16, seed: 4)
        let settings = MaskSettings(threshold: 0.8, sta: STAWindow(wt: 1, wh: 3, ww: 3))
        let kept = try MaskReport(input: input, block: .nabla, settings: settings)
        let streamed = try MaskReport(input: input, block: .nabla, settings: settings, keepMap: false)
        #expect(kept.map != nil && streamed.map == nil)
        #expect(streamed.mask.kept == kept.mask.kept)
        #expect(streamed.mask.margin == kept.mask.margin)
        #expect(streamed.mask.statistics == kept.mask.statistics)
        #expect(streamed.kvIndices == kept.kvIndices && streamed.kvNumBlocks == kept.kvNumBlocks)
        #expect(streamed.times.stages.map(\.name) == kept.times.stages.map(\.name))
    }

    @Test("releasing the input: same report, the tensors freed before the first map")
    func releasingFreesInput() throws {
        final class Watch: @unchecked Sendable {
            weak var q: AnyObject?
            weak var k: AnyObject?
            var aliveAtFirstMap: Bool?
        }
        let settings = MaskSettings(threshold: 0.8, sta: STAWindow(wt: 1, wh: 3, ww: 3))
        let grid = TokenGrid(t: 3, h: 16, w: 16)
        let expected = try MaskReport(input: randomInput(grid: grid, heads: 3, headDim: 16, seed: 4), block: .nabla,
                                      settings: settings, keepMap: false)
        let watch = Watch()
        var held: QKInput? = randomInput(grid: grid, heads: 3, headDim: 16, seed: 4)
        watch.q = held!.q.owner
        watch.k = held!.k.owner
        #expect(watch.q != nil && watch.k != nil)
        let got = try MaskReport(releasing: &held, block: .nabla, settings: settings) { stage, done, _ in
            if stage == "map" && done == 0 { watch.aliveAtFirstMap = watch.q != nil || watch.k != nil }
        }
        #expect(held == nil)
        #expect(watch.aliveAtFirstMap == false)
        #expect(got.mask.kept == expected.mask.kept && got.mask.margin == expected.mask.margin)
        #expect(got.mask.statistics == expected.mask.statistics)
        #expect(got.kvIndices == expected.kvIndices && got.heads == 3 && got.grid == grid)
        #expect(got.inputName == "random" && got.headIndices == expected.headIndices)
    }

    @Test("byte counts with suffixes")
    func parseBytes() {
        #expect(MaskMemory.parseBytes("1500") == 1500)
        #expect(MaskMemory.parseBytes("1.5G") == 1_610_612_736)
        #expect(MaskMemory.parseBytes("800M") == 838_860_800)
        #expect(MaskMemory.parseBytes("64KiB") == 65536)
        #expect(MaskMemory.parseBytes("lots") == nil)
        #expect(MaskMemory.available(environment: ["NABLA_MEMORY_LIMIT": "2G"])?.bytes == 2_147_483_648)
    }
}
