import Foundation

/// One query block's row through NABLA's stages (NABLA.md steps 2-4), for teaching: its
/// logits, probabilities, the descending order and running sum the cut walks, the blocks
/// the cut keeps, those only the STA window adds, and the totals.
///
/// Layout: `probs`, `logits`, `cutKept`, `staKept`, `kept` are indexed by key block
/// (raster over the block grid); `order` and `runningSum` by rank (most probable first).
public struct RowTrace: Sendable, Equatable {
    public let head: Int
    public let query: Int
    public let threshold: Double
    /// `P[head, query, :]`.
    public let probs: [Double]
    /// `log P - max log P`: the pooled logits `qa . ka / sqrt(D)` less their maximum
    /// (softmax is unchanged by the shift, so these are exact up to rounding).
    public let logits: [Double]
    /// Key blocks by descending probability, ties to the higher index (the cut's order read
    /// backwards, so the blocks it keeps are a prefix).
    public let order: [Int]
    /// `runningSum[r]` = sum of the `r + 1` most probable blocks' probabilities.
    public let runningSum: [Double]
    public let cutKept: [Bool]
    /// The STA window's blocks for this query block (all `false` without STA).
    public let staKept: [Bool]
    /// `cutKept || staKept`: the mask's row.
    public let kept: [Bool]

    /// Blocks the cut keeps, blocks kept in all, blocks kept by STA alone.
    public var cutCount: Int { cutKept.filter { $0 }.count }
    public var keptCount: Int { kept.filter { $0 }.count }
    public var staOnlyCount: Int { zip(kept, cutKept).filter { $0 && !$1 }.count }
    /// Pooled probability of the kept blocks (the row's share of `mass_kept`).
    public var mass: Double { zip(probs, kept).reduce(0) { $0 + ($1.1 ? $1.0 : 0) } }
    /// Pooled probability of the blocks the cut keeps.
    public var cutMass: Double { zip(probs, cutKept).reduce(0) { $0 + ($1.1 ? $1.0 : 0) } }

    /// The row of query block `query` of head `head` of `map`, cut at `settings`.
    /// - Complexity: O(N log N).
    public init(map: PooledMap, head: Int, query: Int, settings: MaskSettings) {
        precondition((0..<map.heads).contains(head) && (0..<map.n).contains(query), "head and query block in range")
        let n = map.n
        self.head = head
        self.query = query
        threshold = settings.threshold
        let p = Array(map.probs[((head * n + query) * n)..<((head * n + query + 1) * n)])
        probs = p
        let top = p.max() ?? 1
        logits = p.map { $0 > 0 && top > 0 ? Foundation.log($0 / top) : -.infinity }
        let order = (0..<n).sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 > $1) }
        self.order = order
        var sum = 0.0
        runningSum = order.map { sum += p[$0]; return sum }
        // The engine's cut of this one row (the same selection the mask uses).
        var out = [UInt8](repeating: 0, count: n)
        let cutter = ThresholdCut(n: n)
        defer { cutter.deallocate() }
        p.withUnsafeBufferPointer { pp in
            out.withUnsafeMutableBufferPointer { o in
                _ = cutter.cut(pp.baseAddress!, cutAt: 1 - settings.threshold, into: o.baseAddress!)
            }
        }
        cutKept = out.map { $0 != 0 }
        if let window = settings.sta {
            let pattern = staPattern(map.blocks, window: window)
            staKept = (0..<n).map { pattern[query * n + $0] != 0 }
        } else {
            staKept = [Bool](repeating: false, count: n)
        }
        kept = zip(cutKept, staKept).map { $0 || $1 }
    }
}
