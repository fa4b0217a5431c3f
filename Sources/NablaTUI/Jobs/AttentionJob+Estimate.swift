import Foundation
import NablaCore

extension AttentionJob {
    /// How long the estimate stage refines before it reports, at most, and the interval
    /// it stops at sooner (`recall 0.83 +- 0.01`).
    static let estimateBudget = Duration.seconds(2)
    static let estimateHalfWidth = 0.01

    /// The timing panel's first recall: from query blocks of the head sampled at random
    /// within each frame slab (`AttentionEstimator`, seed 0), starting with two per slab
    /// and growing by half until the 95% interval is within `+-estimateHalfWidth`, the
    /// budget is spent or every block is done. The exact recall (the `recall` stage)
    /// replaces it when it arrives.
    func estimate(isCancelled: () -> Bool) -> Outcome {
        do {
            let start = ContinuousClock.now
            let ops = try AttentionOperands(input: input, blocks: blocks, heads: [head])
            let estimator = try AttentionEstimator(operands: ops, kept: kept, error: false, seed: 0)
            var target = max(2 * blocks.tb, 32)
            while true {
                guard estimator.advance(to: target, isCancelled: isCancelled) else { return .cancelled }
                let e = estimator.estimates[0]
                if e.isExact || e.recall.halfWidth <= Self.estimateHalfWidth
                    || ContinuousClock.now - start > Self.estimateBudget {
                    return .estimated(e)
                }
                target = estimator.done + max(estimator.done / 2, 1)
            }
        } catch {
            return .failed(error.shownText)
        }
    }
}
