import Foundation

/// The order query blocks are sampled in: a uniform random sample stratified by frame
/// slab (the `tb` slabs of `hb * wb` blocks are the strata), each prefix as evenly spread
/// over the slabs as it can be. Each slab's blocks are shuffled; round `r` takes the
/// `r`-th block of every slab, the slabs in a shuffled order. So after `k` blocks every
/// slab holds `floor(k / tb)` or one more, and within a slab the sample is a simple random
/// sample without replacement (a prefix of a uniform shuffle). The same seed gives the
/// same order on every platform (SplitMix64, `SeededGenerator`).
///
/// On a joint text-video sequence (`joint`) the blocks are the joint blocks: the video's
/// slabs (at their joint indices) and one more stratum, the text blocks, which drops out
/// of the rounds once its blocks are taken.
public struct QueryBlockSample: Sendable, Equatable {
    public let blocks: BlockGrid
    public let seed: UInt64
    /// `[N]`: a permutation of the block indices (raster over the block grid; with text,
    /// the joint block indices).
    public let order: [Int]
    /// `[N]`: the stratum of each block.
    let strata: [Int]
    /// Blocks in each stratum: `tb` slabs of `hb * wb`, then with text the `Ntb` text blocks.
    public let strataSizes: [Int]

    /// - Complexity: O(N).
    public init(blocks: BlockGrid, seed: UInt64) {
        self.init(blocks: blocks, joint: nil, seed: seed)
    }

    /// On the joint blocks of `joint` when given (its video must be `blocks`).
    /// - Complexity: O(N).
    public init(blocks: BlockGrid, joint: JointSequence?, seed: UInt64) {
        precondition(joint == nil || joint!.video == blocks, "the joint sequence must be on the same block grid")
        self.blocks = blocks
        self.seed = seed
        var rng = SeededGenerator(seed: seed, stream: 0x5A3B_1E)
        let per = blocks.blocksPerSlab, first = joint?.firstVideoBlock ?? 0
        var slabs = (0..<blocks.tb).map { t in Array((first + t * per)..<(first + (t + 1) * per)) }
        if let joint, joint.textBlocks > 0 {
            slabs.append(Array(joint.firstTextBlock..<(joint.firstTextBlock + joint.textBlocks)))
        }
        for t in slabs.indices { slabs[t] = shuffled(slabs[t], &rng) }
        var order: [Int] = [], strata = [Int](repeating: 0, count: joint?.count ?? blocks.count)
        order.reserveCapacity(strata.count)
        for (t, slab) in slabs.enumerated() { for a in slab { strata[a] = t } }
        for r in 0..<(slabs.map(\.count).max() ?? 0) {
            for t in shuffled(Array(slabs.indices), &rng) where r < slabs[t].count { order.append(slabs[t][r]) }
        }
        self.order = order
        self.strata = strata
        strataSizes = slabs.map(\.count)
    }

    /// The stratum of block `block`: its frame slab (with text, `tb` for a text block).
    public func stratum(of block: Int) -> Int { strata[block] }
}

/// Fisher-Yates with an explicit draw, so the order does not depend on the standard
/// library's shuffle.
private func shuffled(_ x: [Int], _ rng: inout SeededGenerator) -> [Int] {
    var x = x
    if x.count > 1 {
        for i in stride(from: x.count - 1, to: 0, by: -1) {
            x.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
    }
    return x
}

/// One head's recall (and with V, output error) estimated from the query blocks sampled
/// so far.
public struct AttentionEstimate: Sendable, Equatable {
    /// The input head (tensor index as the slot names it).
    public let head: Int
    /// Mean over query blocks of the recall (`AttentionRecall.recall(slot:)`); with partial
    /// edge blocks the mean over real query tokens (blocks weighed by their token counts).
    public let recall: SampledValue
    /// Mean over query blocks (real query tokens) of the oracle recall.
    public let oracle: SampledValue
    /// `||sparse - dense|| / ||dense||` (`relativeL2Error`): the square root of the
    /// ratio of the summed squares, its interval the square roots of the ratio's.
    public let relativeL2Error: SampledValue?
    /// Query blocks sampled, of `total`.
    public let sampled: Int
    public let total: Int

    /// Whether every query block was sampled (the values are then exact, the intervals
    /// of width 0).
    public var isExact: Bool { sampled == total }
}

/// Recall and output error of a mask estimated from a growing sample of query blocks
/// (`QueryBlockSample`), head by head, with 95% intervals (`StratifiedEstimate`: the
/// stratified mean for recall, the combined ratio estimate for the error's square; with
/// partial edge blocks recall is a mean over real query tokens, so it is the combined
/// ratio of `count_a * recall_a` to `count_a`, as `AttentionRecall` weighs blocks):
/// `advance(to:)` computes more blocks, `estimates` reads the figures so far. With every
/// block sampled the figures equal `TrueBlockMass.recall` and `relativeL2Error` up to
/// the order of summation.
///
/// Not thread-safe: one caller advances and reads.
public final class AttentionEstimator {
    public let operands: AttentionOperands
    public let kept: KeptKeyBlocks
    public let sample: QueryBlockSample
    /// Whether the output error is estimated (needs V).
    public let error: Bool
    /// Blocks done per head (a prefix of `sample.order`).
    public private(set) var done = 0
    /// `[slots][done]`, in sample order.
    private var figures: [[QueryBlockFigures]]

    /// Blocks per head (`N`).
    public var total: Int { operands.n }

    /// - Throws: `NablaError.badArgument` when `error` is asked without V.
    public init(operands: AttentionOperands, kept: KeptKeyBlocks, error: Bool, seed: UInt64) throws {
        if error && !operands.hasValues {
            throw NablaError(.badArgument, "the output error needs V (give Q K V); recall needs only Q and K")
        }
        self.operands = operands
        self.kept = operands.kernelRows(kept)
        self.error = error
        sample = QueryBlockSample(blocks: operands.blocks, joint: operands.joint, seed: seed)
        figures = Array(repeating: [], count: operands.heads.count)
    }

    /// Computes the next blocks of the sample, for every head, until `count` (at most `N`)
    /// are done. Returns `false` (and keeps what was done before) when `isCancelled`
    /// turned true.
    /// - Complexity: per block and head, `2 D B S` flops (`4 D B S` and the kept blocks'
    ///   share of it with the error).
    @discardableResult
    public func advance(to count: Int, isCancelled: () -> Bool = { false }) -> Bool {
        let count = min(count, total)
        guard count > done else { return true }
        let slots = operands.heads.count
        let next = sample.order[done..<count]
        var items: [(slot: Int, block: Int)] = []
        items.reserveCapacity(slots * next.count)
        for slot in 0..<slots { for a in next { items.append((slot, a)) } }
        guard let got = operands.figures(ofQueryBlocks: items, kept: kept, error: error, isCancelled: isCancelled) else {
            return false
        }
        for slot in 0..<slots { figures[slot] += got[(slot * next.count)..<((slot + 1) * next.count)] }
        done = count
        return true
    }

    /// The figures of every head from the blocks done so far.
    /// - Complexity: O(slots * done).
    public var estimates: [AttentionEstimate] {
        let population = sample.strataSizes, strata = population.count
        return operands.heads.indices.map { slot in
            var recall = [[(y: Double, x: Double)]](repeating: [], count: strata), oracle = recall, squares = recall
            for (i, f) in figures[slot].enumerated() {
                let a = sample.order[i], h = sample.stratum(of: a), c = weight(a)
                recall[h].append((c * f.recall, c))
                oracle[h].append((c * f.oracle, c))
                squares[h].append((f.errorSquared, f.referenceSquared))
            }
            let l2 = error ? Self.root(StratifiedEstimate.ratio(population: population, samples: squares), done: done) : nil
            return AttentionEstimate(head: operands.heads[slot],
                                     recall: blockMean(population: population, samples: recall),
                                     oracle: blockMean(population: population, samples: oracle),
                                     relativeL2Error: l2, sampled: done, total: total)
        }
    }

    /// Real query tokens of block `a` (1 for every block when blocks are whole).
    private func weight(_ a: Int) -> Double {
        operands.blockCounts.map { Double($0[a]) } ?? 1
    }

    private func blockMean(population: [Int], samples: [[(y: Double, x: Double)]]) -> SampledValue {
        StratifiedEstimate.blockMean(population: population, samples: samples, weighted: operands.blockCounts != nil)
    }

    /// Every head together (strata: head x frame slab): the mean recall over heads, and
    /// with V the error of all heads' outputs together (`relativeL2Error`'s `overall`).
    public var overall: (recall: SampledValue, relativeL2Error: SampledValue?) {
        let strata = sample.strataSizes.count, slots = operands.heads.count
        let population = Array([[Int]](repeating: sample.strataSizes, count: slots).joined())
        var recall = [[(y: Double, x: Double)]](repeating: [], count: strata * slots), squares = recall
        for slot in 0..<slots {
            for (i, f) in figures[slot].enumerated() {
                let a = sample.order[i], h = slot * strata + sample.stratum(of: a), c = weight(a)
                recall[h].append((c * f.recall, c))
                squares[h].append((f.errorSquared, f.referenceSquared))
            }
        }
        return (blockMean(population: population, samples: recall),
                error ? Self.root(StratifiedEstimate.ratio(population: population, samples: squares), done: done) : nil)
    }

    /// The relative L2 error from the estimate of its square (0 for a zero reference, as
    /// `relativeL2Error` has it), the interval's ends the square roots of the square's.
    private static func root(_ ratio: SampledValue?, done: Int) -> SampledValue {
        let r = ratio ?? SampledValue(value: 0, ci95: done >= 2 ? 0...0 : nil)
        return SampledValue(value: max(r.value, 0).squareRoot(),
                            ci95: r.ci95.map { max($0.lowerBound, 0).squareRoot()...max($0.upperBound, 0).squareRoot() })
    }

    /// Advances in steps until every head's recall interval is within `+-halfWidth` (and,
    /// with `errorHalfWidth`, the error's within that), or every block is done: the
    /// `--sample auto` rule. Starts with `max(2 tb, 32)` blocks (two per stratum, so that
    /// no interval rests on collapsed strata) and grows by half each step; `step(self)` is
    /// called after each. Returns `false` when cancelled.
    public func advanceUntil(halfWidth: Double, errorHalfWidth: Double? = nil, isCancelled: () -> Bool = { false },
                             step: (AttentionEstimator) -> Void = { _ in }) -> Bool {
        var target = max(2 * sample.strataSizes.count, 32)
        while true {
            guard advance(to: target, isCancelled: isCancelled) else { return false }
            step(self)
            if done == total { return true }
            let e = estimates
            let recallOK = e.allSatisfy { $0.recall.halfWidth <= halfWidth }
            let errorOK = errorHalfWidth.map { w in e.allSatisfy { ($0.relativeL2Error?.halfWidth ?? 0) <= w } } ?? true
            if recallOK && errorOK { return true }
            target = done + max(done / 2, 1)
        }
    }
}
