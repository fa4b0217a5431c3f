/// The true block mass map: for each head, query block `a` and key block `b`, the share of
/// the token-level softmax probability (`softmax over all keys of q.k / sqrt(D)`) of the
/// tokens of `a` that falls on the tokens of `b`, averaged over the tokens of `a`. Rows
/// sum to 1, as the pooled map's do, so the two compare cell by cell.
///
/// Layout: `mass` is `[slots, N, N]`, Double; slot `i` is input head `heads[i]`.
public struct TrueBlockMass: Sendable {
    public let heads: [Int]
    public let n: Int
    public let mass: [Double]

    public init(heads: [Int], n: Int, mass: [Double]) {
        precondition(mass.count == heads.count * n * n, "mass must be [slots, N, N]")
        self.heads = heads
        self.n = n
        self.mass = mass
    }

    /// The mass of slot `slot`, query block `a`, key block `b`.
    @inlinable public func mass(slot: Int, query a: Int, key b: Int) -> Double {
        mass[(slot * n + a) * n + b]
    }

    /// Recall and oracle of `kept` (rows of every input head) for each packed head.
    /// - Complexity: O(slots * N^2 log N) (each row sorted for the oracle).
    public func recall(of kept: KeptKeyBlocks) -> AttentionRecall {
        precondition(kept.n == n, "the mask's block count must match the map's")
        var recall = [Double](repeating: 0, count: heads.count * n)
        var oracle = [Double](repeating: 0, count: heads.count * n)
        for (slot, h) in heads.enumerated() {
            for a in 0..<n {
                let row = Array(mass[((slot * n + a) * n)..<((slot * n + a + 1) * n)])
                let r = h * n + a
                let count = Int(kept.count[r])
                var got = 0.0
                for i in 0..<count { got += row[Int(kept.indices[r * n + i])] }
                let best = row.sorted(by: >).prefix(count).reduce(0, +)
                recall[slot * n + a] = got
                oracle[slot * n + a] = Swift.max(best, got)
            }
        }
        return AttentionRecall(heads: heads, n: n, perQueryBlock: recall, oraclePerQueryBlock: oracle)
    }
}

/// How much of the true attention a mask keeps (its recall) against the best any mask with
/// the same kept count per row could keep (the oracle).
///
/// Layout: `perQueryBlock` and `oraclePerQueryBlock` are `[slots, N]`, each the share of the
/// query block's true softmax mass on its kept key blocks (recall) or on its `count`
/// heaviest key blocks (oracle), in `[0, 1]`.
public struct AttentionRecall: Sendable {
    public let heads: [Int]
    public let n: Int
    public let perQueryBlock: [Double]
    public let oraclePerQueryBlock: [Double]

    /// Mean recall over the query blocks of slot `slot`.
    public func recall(slot: Int) -> Double { mean(perQueryBlock, slot) }
    /// Mean oracle recall over the query blocks of slot `slot`.
    public func oracle(slot: Int) -> Double { mean(oraclePerQueryBlock, slot) }

    private func mean(_ x: [Double], _ slot: Int) -> Double {
        x[(slot * n)..<((slot + 1) * n)].reduce(0, +) / Double(n)
    }
}
