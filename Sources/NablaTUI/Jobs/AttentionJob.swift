import Foundation
import NablaCore

/// What the timing panel needs computed for head `head`: the true block mass (recall and
/// oracle), block-sparse attention under `mask`, or dense attention.
public struct AttentionJob: Sendable {
    /// `estimate`: recall from sampled query blocks, back within seconds
    /// (`AttentionJob+Estimate.swift`), before the exact `recall`.
    public enum Stage: Sendable, Hashable { case estimate, recall, sparse, dense }

    /// What a stage produced: its result and the kernel's wall time in ms (packing
    /// excluded), or why there is none.
    public enum Outcome: Sendable {
        case done(AttentionWorkResult, ms: Double)
        case estimated(AttentionEstimate)
        case cancelled
        case failed(String)
    }

    public var input: QKInput
    public var blocks: BlockGrid
    public var head: Int
    public var mask: BlockMask
    public var stage: Stage
    /// When `input` holds only the head on screen (`LazyInput`: its token-level data read
    /// alone, `head` 0): the head's position in `mask`, `[heads, N, N]`, and in the map.
    /// The true block mass comes back under this head, so the panel's recall reads its row
    /// of `mask`.
    public var maskHead: Int?

    /// The kept key blocks of the head the job runs on: `mask`'s, or with `maskHead` the
    /// rows of that head alone (`[1, N, N]`, as `input` has one head).
    var kept: KeptKeyBlocks {
        guard let h = maskHead else { return KeptKeyBlocks(mask) }
        let n2 = mask.n * mask.n
        return KeptKeyBlocks(kept: Array(mask.kept[(h * n2)..<((h + 1) * n2)]), heads: 1, blocks: mask.blocks)
    }

    /// Runs the stage on one head.
    func perform(isCancelled: () -> Bool) -> JobOutcome {
        .attention(stage, outcome(isCancelled: isCancelled))
    }

    func outcome(isCancelled: () -> Bool) -> Outcome {
        if isCancelled() { return .cancelled }
        if stage == .estimate { return estimate(isCancelled: isCancelled) }
        let ops: AttentionOperands
        do {
            ops = try AttentionOperands(input: input, blocks: blocks, heads: [head])
        } catch {
            return .failed(error.shownText)
        }
        let work: AttentionWork
        switch stage {
        case .recall, .estimate: work = .trueBlockMass
        case .sparse: work = .sparse(kept)
        case .dense: work = .dense
        }
        let start = ContinuousClock.now
        guard let result = ops.compute(work, isCancelled: isCancelled) else { return .cancelled }
        let ms = (ContinuousClock.now - start).milliseconds
        // The peak dense attention is shown a share of: measured once, here in the
        // background, after the timed run.
        if stage == .dense { _ = KernelVariant.activePeakFlops }
        if let h = maskHead, case .mass(let mass) = result {
            return .done(.mass(TrueBlockMass(heads: [h], n: mass.n, mass: mass.mass, queryWeights: mass.queryWeights)), ms: ms)
        }
        return .done(result, ms: ms)
    }
}
