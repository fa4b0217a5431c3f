import NablaCore

/// The views for teaching and choosing that take the map panel's place: compare two
/// masks, follow one query block through NABLA's stages, sweep the threshold. Each is
/// opened by its key (see `Keymap.standard`) and left with Esc.
public enum TeachingView: Sendable {
    case compare(CompareView)
    case follow(FollowView)
    case sweep(SweepView)
    case methods(MethodsView)

    public var kind: TeachingKind {
        switch self {
        case .compare: .compare
        case .follow: .follow
        case .sweep: .sweep
        case .methods: .methods
        }
    }
}

/// Which teaching view a key opens.
public enum TeachingKind: String, Hashable, Sendable {
    case compare, follow, sweep, methods
}

/// The compare view: the current mask (A) against another mask of the same input (B),
/// overlaid in three colours.
public struct CompareView: Sendable {
    /// What B is; `preset` is its index in `CompareView.presets` when it came from `c`.
    public var spec: MaskSpec
    public var preset: Int?
    /// B made for the current settings, and its comparison with A; `nil` with `problem`
    /// set when B cannot be made (a file that does not fit, another block shape).
    public var comparison: MaskComparison?
    public var problem: String?
    /// Recall and output error of A and B for the current head, from a background
    /// `TeachingJob` (`nil` while it computes); what they were asked for.
    public var figures: (quality: MaskQuality, head: Int)?
    /// Why the figures could not be computed (memory, a failed kernel run).
    public var figuresProblem: String?
    var workKey: TeachingWorkKey?
    /// What B and the comparison were last asked for (a background `TeachingJob`: at scale
    /// making B and comparing every head takes seconds).
    var masksKey: TeachingWorkKey?

    public init(spec: MaskSpec, preset: Int? = nil) {
        self.spec = spec
        self.preset = preset
    }

    /// The B masks `c` cycles through, for the current settings: STA alone, the current
    /// mask with STA toggled, top-k of the same density, the threshold 0.10 lower.
    static func presets(threshold: Double, sta: STAWindow?, staWindow: STAWindow) -> [MaskSpec] {
        [MaskSpec(.sta(sta ?? staWindow)),
         MaskSpec(.cut(MaskSettings(threshold: threshold, sta: sta == nil ? staWindow : nil))),
         MaskSpec(.topK(density: nil)),
         MaskSpec(.cut(MaskSettings(threshold: threshold, sta: sta).stepped(by: -10)))]
    }
}

/// The follow (row) view: one query block's row, stage by stage, and the video with the
/// tiles it keeps. The block is the cursor's query block.
public struct FollowView: Sendable, Equatable {
    /// The stages `f` plays (again and again in the follow view), in order.
    public enum Stage: Int, CaseIterable, Sendable {
        case pool, map, softmax, sort, cut, sta, final

        public var name: String { String(describing: self) }

        /// What the stage does, in one line.
        public var caption: String {
            switch self {
            case .pool: "pool: the queries and keys of each block (one tile of a frame) are averaged into one vector each"
            case .map: "map: the pooled query is dotted with every pooled key, scaled by 1/sqrt(D): one logit per key block"
            case .softmax: "softmax: the logits become probabilities over key blocks that sum to 1"
            case .sort: "sort: the probabilities in descending order, with their running sum"
            case .cut: "cut: keep the fewest blocks whose mass reaches thr (the running sum crosses the line)"
            case .sta: "STA: OR in the sliding-tile window around the query tile (marked blocks come from STA only)"
            case .final: "final: the kept key tiles on every frame of the video; the query tile is outlined"
            }
        }
    }

    /// The last stage shown (all of them unless `f` is stepping through). The kept tiles
    /// are shaded by the true block mass instead of the pooled probability while
    /// `AppState.showTrueMass` is on (`t`, as for the map).
    public var stage: Stage = .final

    public init(stage: Stage = .final) { self.stage = stage }
}

/// The sweep view: density, mass kept and predicted speed-up over thresholds 0, 0.05,
/// ..., 1 for every head (cut at once); for the current head, from a background
/// `TeachingJob`, the recall of the true attention, the speed-up measured by running the
/// kernels at a few thresholds and, with V, the output error against dense.
public struct SweepView: Sendable {
    public var sweep: ThresholdSweep?
    /// The map and STA window `sweep` is (being) computed for.
    var computedFor: (map: PooledMap.ID, sta: STAWindow?)?
    /// Whether the cuts for `computedFor` were asked of a background `TeachingJob` (at
    /// scale the 21 cuts of every head take seconds).
    var cutsAsked = false
    /// The kernel figures of `head` (a sweep of that head alone: slot 0), `nil` while
    /// they compute; what they were asked for.
    public var kernels: (sweep: ThresholdSweep, head: Int)?
    /// Why the kernel figures could not be computed.
    public var kernelProblem: String?
    var workKey: TeachingWorkKey?
    /// Recall averaged over every head at each threshold, computed after the head's
    /// kernel figures (`nil` until then); what it was asked for.
    public var allHeadsRecall: [Double]?
    var allHeadsKey: TeachingWorkKey?
    /// Recall at every threshold estimated from a sample of query blocks, shown until the
    /// exact figures come: of `head` (asked before its kernel figures) and of every head
    /// (asked before their exact recall); `SweepEstimate.swift`.
    public var headEstimate: (recall: [RecallFigures], head: Int)?
    public var allHeadsEstimate: [RecallFigures]?
    /// Why an estimate could not be made (the exact figures are still asked).
    public var estimateProblem: String?
    var estimateKey: TeachingWorkKey?
    var allEstimateKey: TeachingWorkKey?
    public init() {}

    /// Thresholds of the view.
    public static let thresholds = (0...20).map { Double($0) / 20 }
    /// Where the kernels are timed (as `nabla sweep --measure` by default).
    public static let measureAt = [0.5, 0.9, 0.99]
    /// The error at every threshold is computed when it should take at most this long
    /// (the dense run's time times the summed densities); else at the timed points only.
    public static let errorBudgetMs = 1000.0
}

extension AppState {
    /// Opens the teaching view of `kind` (again from its own view: its table, `Keymap.follow`,
    /// `.compare`, `.sweep`, decides first: the next stage, the next B, close).
    mutating func openTeaching(_ kind: TeachingKind) {
        switch kind {
        case .compare:
            let presets = CompareView.presets(threshold: threshold, sta: sta, staWindow: staWindow)
            teaching = .compare(CompareView(spec: presets[0], preset: 0))
        case .follow:
            teaching = .follow(FollowView())
        case .sweep:
            teaching = .sweep(SweepView())
        case .methods:
            // Again from the methods view (no entry of its table): leaves it.
            toggleMethods()
        }
        refreshTeaching()
    }

    /// Compare view: B becomes the next preset (wrapping).
    mutating func nextComparePreset() {
        guard case .compare(let c)? = teaching else { return }
        let presets = CompareView.presets(threshold: threshold, sta: sta, staWindow: staWindow)
        let next = ((c.preset ?? -1) + 1) % presets.count
        teaching = .compare(CompareView(spec: presets[next], preset: next))
        refreshTeaching()
    }

    /// Drops what the open teaching view derives from the current mask (after any change
    /// of threshold, STA, block shape or input); `requestTeachingWork()` asks for it again
    /// in the background (the sweep's cuts, compare's B and comparison), so keys never wait
    /// for it.
    mutating func refreshTeaching() {
        if case .sweep(var view)? = teaching {
            if let map, view.computedFor.map({ $0.map != map.id || $0.sta != sta }) ?? true {
                view.sweep = nil
                view.computedFor = (map.id, sta)
                view.cutsAsked = false
            }
            teaching = .sweep(view)
            return
        }
        guard case .compare(var view)? = teaching else { return }
        view.comparison = nil
        view.problem = nil
        view.masksKey = nil
        if let preset = view.preset {
            view.spec = CompareView.presets(threshold: threshold, sta: sta, staWindow: staWindow)[preset]
        }
        if let map, let block = view.spec.block, block != map.blocks.block {
            view.problem = "B's block \(block) is not the map's \(map.blocks.block): nabla diff compares block shapes"
        }
        teaching = .compare(view)
    }
}

extension AppState {
    /// Follow view: shows one more stage, starting over from `pool` after `final`.
    mutating func nextStage() {
        guard case .follow(var view)? = teaching else { return }
        let all = FollowView.Stage.allCases
        view.stage = all[(view.stage.rawValue + 1) % all.count]
        teaching = .follow(view)
    }
}
