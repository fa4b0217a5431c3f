import NablaCore

/// Kernel work a teaching view asks for in the background, for one head: the compare
/// view's recall and output error of both masks, the sweep view's recall, error and
/// measured speed-up. Teaching jobs have their own generations
/// (`AppState.teachingGeneration`): a newer request supersedes an older one, whose job
/// stops at its next query block; map and timing-panel jobs are never touched.
public struct TeachingJob: Sendable {
    public enum Work: Sendable {
        /// Recall of masks `a` and `b` (rows of every input head) of the true attention,
        /// and with V each one's output error against dense.
        case compare(a: KeptKeyBlocks, b: KeptKeyBlocks, known: Known)
        /// The sweep's kernel figures for the head alone: recall at every threshold,
        /// kernel runs at `measureAt`, the error at every threshold when it fits in
        /// `errorBudgetMs` (`ThresholdSweep`).
        case sweep(sta: STAWindow?, thresholds: [Double], measureAt: [Double], errorBudgetMs: Double, known: Known)
        /// The sweep's recall for every head (one true block mass of all heads), asked
        /// once the head's figures are there; averaged over heads per threshold.
        case sweepAllHeads(sta: STAWindow?, thresholds: [Double])
        /// The sweep's recall at every threshold estimated from a sample of query blocks
        /// (`SampledBlockMass`), of the head alone or of every head, before the exact
        /// figures (`SweepView.headEstimate`, `.allHeadsEstimate`); asked as `key`.
        case sweepEstimate(map: PooledMap, sta: STAWindow?, thresholds: [Double], allHeads: Bool, key: TeachingWorkKey)
        /// The sweep's cuts of every head at every threshold (`ThresholdSweep` without
        /// kernels), for the view's chart and table.
        case sweepCuts(map: PooledMap, sta: STAWindow?, thresholds: [Double])
        /// Compare's B (`spec`, made on `map`) and its comparison with A, asked as `key`.
        case compareMasks(a: SpecifiedMask, spec: MaskSpec, map: PooledMap, key: TeachingWorkKey)
        /// The methods view's sweep of every method (`MethodsView`): of the head alone, or
        /// of every head; the nabla mask at `settings` marked; asked as `key`.
        case methods(settings: MaskSettings, allHeads: Bool, key: TeachingWorkKey)
        /// The methods view's marker at `settings`: the nabla row of each part (a sweep's
        /// kept map and true mass), asked as `key`.
        case methodsMark(settings: MaskSettings, parts: [MethodsMarkPart], key: TeachingWorkKey)
    }

    /// What the timing panel already computed for the head (`[1, N, N]` mass, `[1, S, D]`
    /// dense output and its time): used instead of running those kernels again.
    public struct Known: Sendable {
        public var mass: TrueBlockMass?
        public var dense: [Float]?
        public var denseMs: Double?
    }

    /// Whether it makes what the view draws from (the sweep's cuts, compare's B), rather
    /// than kernel figures.
    public var isBasis: Bool {
        switch work {
        case .sweepCuts, .compareMasks: true
        case .methods(_, let allHeads, _): !allHeads
        default: false
        }
    }

    public var input: QKInput
    public var blocks: BlockGrid
    /// 0-based input head.
    public var head: Int
    public var work: Work

    /// What a teaching job produced, or why there is nothing.
    public enum Outcome: Sendable {
        /// Slot 0 of each mask (A, then B) is the head.
        case compare(MaskQuality, head: Int)
        /// The sweep of the head alone (`heads == 1`; its slot 0 is the head).
        case sweep(ThresholdSweep, head: Int)
        /// Recall averaged over every head, per threshold of the sweep.
        case sweepAllHeads(recall: [Double])
        /// The sweep's estimated recall per threshold, or why there is none, for `key`.
        case sweepEstimate([RecallFigures]?, problem: String?, allHeads: Bool, key: TeachingWorkKey)
        /// The cuts of `map` (its identity) with `sta`.
        case sweepCuts(ThresholdSweep, map: PooledMap.ID, sta: STAWindow?)
        /// B and the comparison, or why B cannot be made, for `key`.
        case compareMasks(MaskComparison?, problem: String?, key: TeachingWorkKey)
        /// The methods view's sweep, or why it cannot be made, for `key`.
        case methods(MethodsResult?, problem: String?, key: TeachingWorkKey)
        /// The markers at `settings`, one per part asked.
        case methodsMark([(allHeads: Bool, row: MethodSweep.Row)], settings: MaskSettings, key: TeachingWorkKey)
        case cancelled
        case failed(String)
    }

}

extension AppState {
    /// Asks for the kernel figures the open teaching view lacks for the current map, head
    /// and masks (nothing when they are there or already asked for). Every request is a
    /// new teaching generation, which supersedes the older ones.
    ///
    /// The true mass and dense attention of the head are the timing panel's: while the
    /// panel computes them, the request waits (it is made again after every event,
    /// including the panel's results); when the panel has none for this map and head, the
    /// job runs them itself.
    mutating func requestTeachingWork() -> [Effect] {
        guard let input, let map, teaching != nil else { return [] }
        let head = currentHead
        if let basis = requestTeachingBasis(input: input, map: map, head: head) { return basis }
        if let estimate = requestSweepEstimate(input: input, map: map, head: head) { return estimate }
        if let methods = requestMethodsWork(input: input, map: map, head: head) { return methods }
        var known = TeachingJob.Known()
        if let panel = attention, panel.map == map.id, panel.head == head, panel.failure == nil {
            let waiting = panel.pending.contains(.recall) || panel.pending.contains(.dense)
            if waiting && (panel.mass == nil || (panel.hasValues && panel.dense == nil)) { return [] }
            known = TeachingJob.Known(mass: panel.mass, dense: panel.dense, denseMs: panel.denseMs)
        }
        let job: TeachingJob
        switch teaching {
        case .compare(var view)?:
            guard let c = view.comparison else { return [] }
            let key = TeachingWorkKey(map: map.id, head: head, settings: settings, spec: view.spec)
            guard view.workKey != key else { return [] }
            view.workKey = key
            view.figures = nil
            view.figuresProblem = nil
            teaching = .compare(view)
            job = TeachingJob(input: input, blocks: map.blocks, head: head, work: .compare(a: c.a.keptKeyBlocks, b: c.b.keptKeyBlocks, known: known))
        case .sweep(var view)?:
            let key = TeachingWorkKey(map: map.id, head: head, settings: MaskSettings(threshold: 0, sta: sta), spec: nil)
            if view.workKey == key {
                // The head's figures first; then, once, the recall of every head (the
                // head's key stands for the map and STA window; the head is left out).
                let allKey = TeachingWorkKey(map: map.id, head: -1, settings: key.settings, spec: nil)
                guard view.kernels != nil || view.kernelProblem != nil, view.allHeadsKey != allKey else { return [] }
                view.allHeadsKey = allKey
                view.allHeadsRecall = nil
                teaching = .sweep(view)
                job = TeachingJob(input: input, blocks: map.blocks, head: head,
                                  work: .sweepAllHeads(sta: sta, thresholds: SweepView.thresholds))
                break
            }
            // Another map or STA window: every head's recall is asked again; another head
            // of the same map keeps it, unless its job was superseded before it was done.
            if view.allHeadsKey?.map != key.map || view.allHeadsKey?.settings != key.settings || view.allHeadsRecall == nil {
                view.allHeadsKey = nil
                view.allHeadsRecall = nil
            }
            view.workKey = key
            view.kernels = nil
            view.kernelProblem = nil
            teaching = .sweep(view)
            job = TeachingJob(input: input, blocks: map.blocks, head: head,
                              work: .sweep(sta: sta, thresholds: SweepView.thresholds, measureAt: SweepView.measureAt,
                                           errorBudgetMs: SweepView.errorBudgetMs, known: known))
        default:
            return []
        }
        return submitTeaching(job)
    }

    /// A new teaching generation for `job`, superseding older ones.
    mutating func submitTeaching(_ job: TeachingJob) -> [Effect] {
        teachingGeneration += 1
        return [.computeTeaching(job, generation: teachingGeneration)]
    }

    /// What a view draws from first, asked before its kernel figures: the sweep's cuts,
    /// compare's B and comparison (once the mask of every head at the current settings is
    /// there). `nil` when the view has it; else the effects (none while it waits).
    private mutating func requestTeachingBasis(input: QKInput, map: PooledMap, head: Int) -> [Effect]? {
        switch teaching {
        case .sweep(var view)?:
            guard view.sweep == nil else { return nil }
            guard !view.cutsAsked, let target = view.computedFor, target.map == map.id else { return [] }
            view.cutsAsked = true
            teaching = .sweep(view)
            return submitTeaching(TeachingJob(input: input, blocks: map.blocks, head: head,
                                              work: .sweepCuts(map: map, sta: target.sta, thresholds: SweepView.thresholds)))
        case .compare(var view)?:
            guard view.comparison == nil else { return nil }
            guard view.problem == nil, let mask, cut.isCurrent(mask, settings: settings) else { return [] }
            let key = TeachingWorkKey(map: map.id, head: -1, settings: settings, spec: view.spec)
            guard view.masksKey != key else { return [] }
            view.masksKey = key
            // This request supersedes a figures job in flight: ask for the figures again.
            view.workKey = nil
            teaching = .compare(view)
            let a = SpecifiedMask(spec: MaskSpec(.cut(settings), block: map.blocks.block), blocks: map.blocks,
                                  heads: map.heads, kept: mask.kept, map: map)
            return submitTeaching(TeachingJob(input: input, blocks: map.blocks, head: head,
                                              work: .compareMasks(a: a, spec: view.spec, map: map, key: key)))
        default:
            return nil
        }
    }

    /// Takes in a teaching job's outcome when it belongs to the newest request and the
    /// view it was asked for is still open.
    mutating func applyTeaching(_ outcome: TeachingJob.Outcome, generation: Int) {
        guard generation == teachingGeneration else { return }
        switch (outcome, teaching) {
        case (.compare(let quality, let head), .compare(var view)?):
            view.figures = (quality, head)
            teaching = .compare(view)
        case (.sweep(let sweep, let head), .sweep(var view)?):
            view.kernels = (sweep, head)
            teaching = .sweep(view)
        case (.sweepEstimate(let figures, let problem, let allHeads, let key), .sweep?):
            applySweepEstimate(figures, problem: problem, allHeads: allHeads, key: key)
        case (.sweepAllHeads(let recall), .sweep(var view)?):
            view.allHeadsRecall = recall
            teaching = .sweep(view)
        case (.sweepCuts(let sweep, let map, let sta), .sweep(var view)?):
            guard let target = view.computedFor, target.map == map, target.sta == sta else { break }
            view.sweep = sweep
            teaching = .sweep(view)
        case (.compareMasks(let comparison, let problem, let key), .compare(var view)?):
            guard view.masksKey == key else { break }
            view.comparison = comparison
            view.problem = problem
            teaching = .compare(view)
        case (.methods(let result, let problem, let key), .methods?):
            applyMethods(result, problem: problem, key: key)
        case (.methodsMark(let rows, let settings, let key), .methods?):
            applyMethodsMark(rows, settings: settings, key: key)
        case (.failed(let text), .compare(var view)?):
            view.figuresProblem = text
            teaching = .compare(view)
        case (.failed(let text), .sweep(var view)?):
            view.kernelProblem = text
            teaching = .sweep(view)
        default:
            break
        }
    }
}

/// What a teaching view's kernel figures were asked for: they are asked again when any
/// part changes.
public struct TeachingWorkKey: Equatable, Sendable {
    var map: PooledMap.ID
    var head: Int
    var settings: MaskSettings
    var spec: MaskSpec?
}
