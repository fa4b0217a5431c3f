import Foundation

/// The true block mass rows of a growing sample of query blocks (`QueryBlockSample`:
/// uniform, stratified by frame slab), per head: enough to estimate, with 95% intervals,
/// the recall of *any* mask on the same block grid — every threshold of a sweep, every
/// method — from one kernel pass per sampled block (issue 19, item 3: "the sweep's recall
/// curves and the model view use estimates first").
///
/// A mask's recall in head `h` is the mean over query blocks of the true mass its row
/// keeps (`TrueBlockMass.recall`); here the mean over the sampled blocks, as
/// `AttentionEstimator` takes it (stratified mean; with partial edge blocks the combined
/// ratio of `count_a * kept_a` to `count_a`, a mean over real query tokens). With every
/// block sampled the figures equal `TrueBlockMass.recall` up to the order of summation.
///
/// Heads are packed for the kernels (`AttentionOperands`) a group at a time, the groups as
/// large as `packBytes` allows; with one group the packing is kept between `advance`
/// calls, else each call packs again (`O(S D)` per head, small against the
/// `2 D B S` flops of each sampled block).
///
/// Layout: `rows[slot]` is `[done, N]`, in sample order; slot `i` is input head `heads[i]`.
/// Not thread-safe: one caller advances and reads.
public final class SampledBlockMass {
    public let input: QKInput
    public let blocks: BlockGrid
    /// The input heads, in slot order.
    public let heads: [Int]
    public let sample: QueryBlockSample
    /// Blocks done per head (a prefix of `sample.order`).
    public private(set) var done = 0
    private var rows: [[Double]]
    private let groups: [[Int]]
    private var packed: AttentionOperands?
    /// `[N]` real tokens per block with partial edge blocks, else `nil`.
    private let counts: [Int32]?

    /// Query blocks per head, `N`.
    public var total: Int { blocks.count }

    /// - Parameters:
    ///   - heads: input heads (all when `nil`).
    ///   - packBytes: the most the packed operands of one group of heads may take.
    /// - Throws: `NablaError.badGrid` when `blocks` is not on the input's grid;
    ///   `.badArgument` for a head out of range or an input with joint text tokens (their
    ///   recall is exact only, `JointRecall`); `.tooLarge` when one head does not fit.
    public init(input: QKInput, blocks: BlockGrid, heads: [Int]? = nil, seed: UInt64 = 0,
                packBytes: Int = 1 << 30) throws {
        guard blocks.grid == input.grid else {
            throw NablaError(.badGrid, "block grid \(blocks) is on grid \(blocks.grid), the input's grid is \(input.grid)")
        }
        if let text = input.text {
            throw NablaError(.badArgument, "\(input.name): recall estimates with joint text tokens (\(text.tokens)) are not made: drop --sample for the exact recall over every token")
        }
        let heads = heads ?? Array(0..<input.heads)
        if let bad = heads.first(where: { !(0..<input.heads).contains($0) }) {
            throw NablaError(.badArgument, "head \(bad) is out of range: the input has \(input.heads) heads (0...\(input.heads - 1))")
        }
        self.input = input
        self.blocks = blocks
        self.heads = heads
        sample = QueryBlockSample(blocks: blocks, seed: seed)
        rows = Array(repeating: [], count: heads.count)
        let perHead = max(1, AttentionOperands.estimatedBytes(heads: 1, blocks: blocks, headDim: input.headDim, values: false))
        let size = max(1, min(heads.count, packBytes / perHead))
        groups = stride(from: 0, to: heads.count, by: size).map { Array(heads[$0..<min($0 + size, heads.count)]) }
        counts = blocks.isUniform ? nil : blocks.blockTokenCounts()
    }

    /// Computes the next blocks of the sample, for every head, until `count` (at most `N`)
    /// are done. Returns `false` (keeping what was done before) when `isCancelled` turned
    /// true; `progress(doneHeads, heads)` is called after each group of heads.
    /// - Throws: `NablaError.tooLarge` when a group's packing does not fit in memory.
    /// - Complexity: `2 D B S` flops per new block and head.
    @discardableResult
    public func advance(to count: Int, isCancelled: () -> Bool = { false },
                        progress: (Int, Int) -> Void = { _, _ in }) throws -> Bool {
        let count = min(count, total)
        guard count > done else { return true }
        let next = Array(sample.order[done..<count])
        var got: [[Double]] = []
        var slot = 0
        for group in groups {
            let ops: AttentionOperands
            if let packed, packed.heads == group {
                ops = packed
            } else {
                ops = try AttentionOperands(input: input, blocks: blocks, heads: group)
                packed = groups.count == 1 ? ops : nil
            }
            var items: [(slot: Int, block: Int)] = []
            for s in group.indices { for a in next { items.append((s, a)) } }
            guard let mass = ops.massRows(ofQueryBlocks: items, isCancelled: isCancelled) else { return false }
            let n = blocks.count, per = next.count * n
            for s in group.indices { got.append(Array(mass[(s * per)..<((s + 1) * per)])) }
            slot += group.count
            progress(slot, heads.count)
        }
        for s in heads.indices { rows[s] += got[s] }
        done = count
        return true
    }

    /// The recall of `kept` (rows of every input head) in each head, `[slots]`.
    /// - Complexity: O(slots * done * N).
    public func recall(of kept: KeptKeyBlocks) -> [SampledValue] {
        precondition(kept.n == blocks.count, "the mask's block count must match the blocks'")
        return heads.indices.map { slot in
            StratifiedEstimate.blockMean(population: population, samples: samples(slot: slot, kept: kept),
                                         weighted: counts != nil)
        }
    }

    /// The mean over every head of the recall of `kept`, the "all heads" figure of a sweep.
    /// Every head samples the same query blocks, so the unit is the block and its value
    /// the mean over heads of what its row keeps (strata: frame slabs); treating heads as
    /// strata of their own would ignore that correlation and make the interval too narrow.
    /// - Complexity: O(slots * done * N).
    public func overallRecall(of kept: KeptKeyBlocks) -> SampledValue {
        precondition(kept.n == blocks.count, "the mask's block count must match the blocks'")
        let each = heads.indices.map { samples(slot: $0, kept: kept) }
        let k = Double(heads.count)
        let all = (0..<blocks.tb).map { t in
            each[0][t].indices.map { i in (y: each.reduce(0) { $0 + $1[t][i].y } / k, x: each[0][t][i].x) }
        }
        return StratifiedEstimate.blockMean(population: population, samples: all, weighted: counts != nil)
    }

    /// Advances in steps until the recall of every mask of `kept` is within `+-halfWidth`
    /// (in every head, or with `overall` in the mean over heads), or every block is done:
    /// the `--sample auto` rule of `AttentionEstimator.advanceUntil`. Starts at
    /// `max(2 tb, 32)` blocks, grows by half each step. Returns `false` when cancelled.
    /// - Throws: as `advance`.
    public func advanceUntil(halfWidth: Double, of kept: [KeptKeyBlocks], overall: Bool = false,
                             isCancelled: () -> Bool = { false }, step: (SampledBlockMass) -> Void = { _ in }) throws -> Bool {
        var target = max(2 * blocks.tb, 32)
        while true {
            guard try advance(to: target, isCancelled: isCancelled) else { return false }
            step(self)
            if done == total { return true }
            let ok = kept.allSatisfy { k in
                overall ? overallRecall(of: k).halfWidth <= halfWidth : recall(of: k).allSatisfy { $0.halfWidth <= halfWidth }
            }
            if ok { return true }
            target = done + max(done / 2, 1)
        }
    }

    /// Blocks per stratum: the `tb` frame slabs.
    private var population: [Int] { [Int](repeating: blocks.blocksPerSlab, count: blocks.tb) }

    /// The sampled blocks of `slot` by frame slab, `(count * kept mass, count)`.
    private func samples(slot: Int, kept: KeptKeyBlocks) -> [[(y: Double, x: Double)]] {
        let n = blocks.count, h = heads[slot]
        var out = [[(y: Double, x: Double)]](repeating: [], count: blocks.tb)
        rows[slot].withUnsafeBufferPointer { m in
            for i in 0..<done {
                let a = sample.order[i], row = h * n + a
                var got = 0.0
                for j in 0..<Int(kept.count[row]) { got += m[i * n + Int(kept.indices[row * n + j])] }
                let c = counts.map { Double($0[a]) } ?? 1
                out[sample.stratum(of: a)].append((c * got, c))
            }
        }
        return out
    }
}
