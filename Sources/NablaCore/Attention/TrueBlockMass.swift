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
    /// `[N]`: each query block's share of the tokens, `count_a / S`, when blocks differ in
    /// size (partial edge blocks); `nil` when uniform (each block weighs `1 / N`).
    public let queryWeights: [Double]?
    /// The joint text-video sequence whose joint blocks the map is on (`N = Nj`), or `nil`
    /// for a map on the video's blocks. Masks on the video's blocks given to `recall(of:)`
    /// are then taken with every text row and column kept (`JointSequence.keptKeyBlocks`).
    public let joint: JointSequence?

    /// `[slots, N, N]`: per row, running sums of the masses sorted descending (the oracle
    /// of a row keeping `k` blocks is entry `k - 1`).
    let descendingSums: [Double]

    /// - Complexity: O(slots * N^2 log N), to sort each row once for the oracle.
    public init(heads: [Int], n: Int, mass: [Double], queryWeights: [Double]? = nil, joint: JointSequence? = nil) {
        precondition(joint == nil || joint!.count == n, "a joint map is on the joint blocks")
        self.joint = joint
        precondition(mass.count == heads.count * n * n, "mass must be [slots, N, N]")
        precondition(queryWeights == nil || queryWeights!.count == n, "one weight per query block")
        self.heads = heads
        self.n = n
        self.mass = mass
        self.queryWeights = queryWeights
        var sums = [Double](repeating: 0, count: mass.count)
        for row in 0..<(heads.count * n) {
            var c = 0.0
            for (i, x) in mass[(row * n)..<((row + 1) * n)].sorted(by: >).enumerated() {
                c += x
                sums[row * n + i] = c
            }
        }
        descendingSums = sums
    }

    /// The mass of slot `slot`, query block `a`, key block `b`.
    @inlinable public func mass(slot: Int, query a: Int, key b: Int) -> Double {
        mass[(slot * n + a) * n + b]
    }

    /// Recall and oracle of `kept` (rows of every input head) for each packed head; on a
    /// joint map, `kept` may be on the video's blocks (its joint rows are taken).
    /// - Complexity: O(slots * N + kept blocks).
    public func recall(of kept: KeptKeyBlocks) -> AttentionRecall {
        if let joint, kept.n == joint.video.count, kept.n != n { return recall(of: joint.keptKeyBlocks(kept)) }
        precondition(kept.n == n, "the mask's block count must match the map's")
        return recall { h, a, add in
            let r = h * n + a
            for i in 0..<Int(kept.count[r]) { add(Int(kept.indices[r * n + i])) }
        }
    }

    /// Recall and oracle of `mask` for each packed head; on a joint map, of `mask`'s joint
    /// rows when it is on the video's blocks.
    /// - Complexity: O(slots * N^2).
    public func recall(of mask: BlockMask) -> AttentionRecall {
        if let joint, mask.n == joint.video.count, mask.n != n { return recall(of: joint.keptKeyBlocks(mask)) }
        precondition(mask.n == n, "the mask's block count must match the map's")
        return recall { h, a, add in
            for b in 0..<n where mask.isKept(head: h, query: a, key: b) { add(b) }
        }
    }

    /// `forKept(head, a, add)` calls `add(b)` for every kept key block `b` of row `a`.
    private func recall(_ forKept: (Int, Int, (Int) -> Void) -> Void) -> AttentionRecall {
        var recall = [Double](repeating: 0, count: heads.count * n)
        var oracle = [Double](repeating: 0, count: heads.count * n)
        for (slot, h) in heads.enumerated() {
            for a in 0..<n {
                let row = (slot * n + a) * n
                var got = 0.0, count = 0
                forKept(h, a) { b in
                    got += mass[row + b]
                    count += 1
                }
                recall[slot * n + a] = got
                // Rounding can put a sum of the same blocks in another order a hair below.
                oracle[slot * n + a] = count > 0 ? Swift.max(descendingSums[row + count - 1], got) : 0
            }
        }
        return AttentionRecall(heads: heads, n: n, perQueryBlock: recall, oraclePerQueryBlock: oracle,
                               queryWeights: queryWeights)
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
    /// `[N]`: `count_a / S` per query block with partial edge blocks (the means are then
    /// over real query tokens), `nil` for uniform blocks.
    public let queryWeights: [Double]?

    public init(heads: [Int], n: Int, perQueryBlock: [Double], oraclePerQueryBlock: [Double],
                queryWeights: [Double]? = nil) {
        self.heads = heads
        self.n = n
        self.perQueryBlock = perQueryBlock
        self.oraclePerQueryBlock = oraclePerQueryBlock
        self.queryWeights = queryWeights
    }

    /// Mean recall over the query blocks of slot `slot`.
    public func recall(slot: Int) -> Double { mean(perQueryBlock, slot) }
    /// Mean oracle recall over the query blocks of slot `slot`.
    public func oracle(slot: Int) -> Double { mean(oraclePerQueryBlock, slot) }

    private func mean(_ x: [Double], _ slot: Int) -> Double {
        guard let w = queryWeights else { return x[(slot * n)..<((slot + 1) * n)].reduce(0, +) / Double(n) }
        var sum = 0.0
        for a in 0..<n { sum += x[slot * n + a] * w[a] }
        return sum
    }
}
