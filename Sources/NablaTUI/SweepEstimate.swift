import NablaCore

/// The sweep view's recall estimates (issue 19, item 3: "the sweep's recall curves ... use
/// estimates first"): before the head's exact recall (a true-mass run over every query
/// block, `2 D S^2` flops) and before every head's, the recall at every threshold is
/// estimated from one sample of query blocks (`SampledBlockMass`), until its 95% interval
/// is within `SweepView.estimateHalfWidth`, and drawn with its interval until the exact
/// figures replace it.
extension SweepView {
    /// The half-width the estimates sample until (in the head; over all heads, the mean's).
    public static let estimateHalfWidth = 0.01
    /// The seed of the estimates' sample (as `nabla sweep --sample-seed 0`).
    static let estimateSeed: UInt64 = 0

    /// The head's recall per threshold: exact from the kernels when they are there, else
    /// the estimate for `head`; with whether it is an estimate.
    func headRecall(head: Int) -> (values: [Double], figures: [RecallFigures]?)? {
        if let k = kernels, k.head == head, let r = k.sweep.recall { return (r.map { $0[0] }, nil) }
        if let e = headEstimate, e.head == head { return (e.recall.map { $0.perHead[0].value }, sampledOnly(e.recall)) }
        return nil
    }

    /// Every head's mean recall per threshold: exact when there, else the estimate.
    var allRecall: (values: [Double], figures: [RecallFigures]?)? {
        if let allHeadsRecall { return (allHeadsRecall, nil) }
        if let e = allHeadsEstimate { return (e.map(\.overall.value), sampledOnly(e)) }
        return nil
    }

    /// `nil` for figures of a sample that took every block (exact, drawn as such).
    private func sampledOnly(_ f: [RecallFigures]) -> [RecallFigures]? {
        f.first?.sampled == nil ? nil : f
    }
}

extension AppState {
    /// Asks for the sweep view's next estimate: the head's before its kernel figures, every
    /// head's once the head's figures are in and before every head's exact recall. `nil`
    /// when none is due (the caller goes on to the exact figures); `[]` while one computes.
    mutating func requestSweepEstimate(input: QKInput, map: PooledMap, head: Int) -> [Effect]? {
        guard case .sweep(var view)? = teaching, view.sweep != nil else { return nil }
        let settings = MaskSettings(threshold: 0, sta: sta)
        let key = TeachingWorkKey(map: map.id, head: head, settings: settings, spec: nil)
        let allKey = TeachingWorkKey(map: map.id, head: -1, settings: settings, spec: nil)
        let headDone = view.kernels.map { $0.head == head } ?? false
        if !headDone && view.workKey != key {
            // The head's estimate, then its exact figures.
            if view.estimateKey != key {
                if view.allEstimateKey?.map != key.map || view.allEstimateKey?.settings != key.settings {
                    view.allEstimateKey = nil
                    view.allHeadsEstimate = nil
                }
                view.estimateKey = key
                view.headEstimate = nil
                view.estimateProblem = nil
                return askEstimate(view, input: input, map: map, head: head, allHeads: false, key: key)
            }
            let waiting = view.headEstimate?.head != head && view.estimateProblem == nil
            return waiting ? [] : nil
        }
        // Every head's estimate, once the head's figures are in, before their exact recall.
        guard view.kernels != nil || view.kernelProblem != nil, view.allHeadsRecall == nil, input.heads > 1 else { return nil }
        if view.allEstimateKey != allKey {
            view.allEstimateKey = allKey
            view.allHeadsEstimate = nil
            return askEstimate(view, input: input, map: map, head: head, allHeads: true, key: allKey)
        }
        let waiting = view.allHeadsEstimate == nil && view.estimateProblem == nil
        return waiting ? [] : nil
    }

    /// Stores `view` and asks for its estimate of the head or of every head as `key`.
    private mutating func askEstimate(_ view: SweepView, input: QKInput, map: PooledMap, head: Int, allHeads: Bool,
                                      key: TeachingWorkKey) -> [Effect] {
        teaching = .sweep(view)
        return submitTeaching(TeachingJob(input: input, blocks: map.blocks, head: head,
                                          work: .sweepEstimate(map: map, sta: sta, thresholds: SweepView.thresholds,
                                                               allHeads: allHeads, key: key)))
    }

    /// Takes in an estimate when it is the one last asked for.
    mutating func applySweepEstimate(_ figures: [RecallFigures]?, problem: String?, allHeads: Bool, key: TeachingWorkKey) {
        guard case .sweep(var view)? = teaching else { return }
        if allHeads {
            guard view.allEstimateKey == key else { return }
            view.allHeadsEstimate = figures
        } else {
            guard view.estimateKey == key else { return }
            view.headEstimate = figures.map { ($0, key.head) }
        }
        view.estimateProblem = problem
        teaching = .sweep(view)
    }
}

extension TeachingJob {
    /// The sweep's recall per threshold from one sample of query blocks: of `head` alone,
    /// or of every head (their mean), sampled until every threshold's interval is within
    /// `SweepView.estimateHalfWidth`.
    /// - Throws: `CancellationError` when `isCancelled` turned true.
    func performSweepEstimate(map: PooledMap, sta: STAWindow?, thresholds: [Double], allHeads: Bool, key: TeachingWorkKey,
                              isCancelled: () -> Bool) throws -> Outcome {
        do {
            let masks = thresholds.map { KeptKeyBlocks(map.cut(MaskSettings(threshold: $0, sta: sta))) }
            if isCancelled() { return .cancelled }
            let sampled = try SampledBlockMass(input: input, blocks: blocks, heads: allHeads ? nil : [head], seed: SweepView.estimateSeed)
            guard try sampled.advanceUntil(halfWidth: SweepView.estimateHalfWidth, of: masks, overall: allHeads,
                                           isCancelled: isCancelled) else { return .cancelled }
            let source = RecallSource.sampled(sampled)
            return .sweepEstimate(masks.map(source.recall(of:)), problem: nil, allHeads: allHeads, key: key)
        } catch let error as NablaError {
            return .sweepEstimate(nil, problem: error.message, allHeads: allHeads, key: key)
        }
    }
}
