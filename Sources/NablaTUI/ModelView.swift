import NablaCore

/// The Q/K pairs of a whole-model dump the app moves through (`ModelDump`): the dump's
/// path, the pairs' prefixes, which one is open, and the request it was opened with.
public struct DumpPairs: Sendable, Equatable {
    /// The file or folder as typed.
    public var path: String
    public var prefixes: [String]
    /// The pair on screen.
    public var index: Int
    /// The request that opened the dump: its layout options and head selection go with
    /// every pair.
    public var base: InputSpec

    /// The request that opens pair `i`: `PATH:PREFIX` with the base request's options.
    public func request(for i: Int) -> InputSpec {
        var spec = base
        spec.source = .latent(TensorSource(path: path, key: ModelDump.name(ofPrefix: prefixes[i])))
        return spec
    }

    /// The pairs `request` names when it opens a whole-model dump of two or more pairs
    /// (`PATH`, opened at its first pair, or `PATH:PREFIX`, at that pair); `nil`
    /// otherwise (then the loader decides what the request is). Reads headers only.
    public static func detect(_ request: InputSpec) -> DumpPairs? {
        let source: TensorSource
        switch request.source {
        case .file(let path): source = TensorSource(path: path)
        // PATH:PAIR names a pair; `--latent FILE` (no key) is a latent, never a dump.
        case .latent(let tensor) where tensor.key != nil: source = tensor
        case .sample, .tensors, .latent: return nil
        }
        // --axes with leading layer/step letters splits tensors into pairs.
        guard let dump = try? ModelDump(path: source.path, axes: request.layout.axes), dump.pairs.count > 1 else { return nil }
        let prefixes = dump.pairs.map(\.prefix)
        let index: Int
        if let key = source.key {
            guard let i = prefixes.firstIndex(of: key) else { return nil }
            index = i
        } else {
            index = 0
        }
        return DumpPairs(path: source.path, prefixes: prefixes, index: index, base: request)
    }
}

/// The model view: a heatmap of density or recall over pairs x heads, and its cursor.
public struct ModelSurvey: Sendable, Equatable {
    /// What the heatmap shows.
    public enum Layer: Sendable, Equatable {
        /// Kept blocks over `N^2` (the pooled map's cut, cheap).
        case density
        /// The share of the true attention mass each mask keeps (`ModelReport.recall`):
        /// estimated for every pair first, then exact pair by pair.
        case recall
    }

    /// The selected cell: pair row and head column.
    public var pair: Int
    public var head: Int
    /// Per pair, per head: density at `settings` and `block`; `nil` until computed.
    public var density: [[Double]]?
    /// What `density` (and `recall`) was computed at.
    public var settings: MaskSettings?
    public var block: BlockShape?
    public var layer: Layer = .density
    /// `[pairs]`: every head's recall at `settings` and `block`, an estimate
    /// (`RecallFigures.sampled` set) until the exact figures replace it; `nil` until computed.
    public var recall: [RecallFigures?] = []
    /// Why a pair's recall could not be computed; no more recall is asked while it is set.
    public var recallProblem: String?
    /// The generation of the map-lane job computing for the view, while one runs.
    var working: Int?

    /// How an estimate samples: until the pair's mean over heads is within
    /// `+-SweepView.estimateHalfWidth` (95%; each head's own interval is drawn), seed 0, as
    /// the sweep view's every-head estimate: a bound on the time per pair, where every
    /// head within it could need most of the blocks.
    public static let estimate = ModelReport.Recall.sampled(RecallSource.Request(size: .auto(halfWidth: SweepView.estimateHalfWidth)))

    /// Pairs whose recall is estimated or exact, and exact.
    var recallCounts: (known: Int, exact: Int) {
        (recall.filter { $0 != nil }.count, recall.filter { $0 != nil && $0?.sampled == nil }.count)
    }
}

extension AppState {
    /// Opens the model view (and computes it, unless it is current), or closes it.
    mutating func toggleModelView() -> [Effect] {
        if model != nil {
            closeModel()
            return []
        }
        guard let pairs else {
            message = .error("the model view needs a whole-model dump: a file or folder with PREFIX.q and PREFIX.k for several pairs")
            return []
        }
        var survey = lastSurvey ?? ModelSurvey(pair: pairs.index, head: head)
        survey.pair = pairs.index
        survey.head = head
        model = survey
        return surveyIfStale()
    }

    /// Starts computing every pair's density unless the view shows the current settings
    /// (the recall of other settings is dropped with their density).
    mutating func surveyIfStale() -> [Effect] {
        guard var survey = model, let pairs else { return [] }
        if survey.density != nil, survey.settings == settings, survey.block == block { return [] }
        generation += 1
        job = Job(generation: generation, label: "computing \(pairs.prefixes.count) pairs")
        survey.recall = []
        survey.recallProblem = nil
        survey.working = generation
        model = survey
        return [.surveyModel(pairs: pairs, block: block, settings: settings, generation: generation)]
    }

    /// Closes the model view, keeping what it computed for the next time it opens, and
    /// stops its work (a pair's exact recall can take minutes at full size).
    mutating func closeModel() {
        guard let survey = model else { return }
        model = nil
        stopModelWork(survey)
        lastSurvey = survey
        lastSurvey?.working = nil
    }

    /// Makes the view's running job stale (it stops at its next head or block).
    private mutating func stopModelWork(_ survey: ModelSurvey) {
        guard let g = survey.working, job?.generation == g else { return }
        generation += 1
        job = nil
    }

    /// Switches the heatmap between density and recall; leaving recall stops its work.
    mutating func toggleModelLayer() {
        guard var survey = model else { return }
        survey.layer = survey.layer == .density ? .recall : .density
        if survey.layer == .density, survey.density != nil { stopModelWork(survey); survey.working = nil }
        model = survey
    }

    /// Asks for the model view's next recall, when it shows recall and nothing else runs on
    /// the map lane: an estimate of every pair first (from the selected pair on), then the
    /// exact recall pair by pair.
    mutating func refreshModelRecall() -> [Effect] {
        guard var survey = model, survey.layer == .recall, let pairs, job == nil, survey.density != nil,
              let settings = survey.settings, let block = survey.block, survey.recallProblem == nil else { return [] }
        let n = pairs.prefixes.count
        if survey.recall.count != n { survey.recall = Array(repeating: nil, count: n) }
        let order = (0..<n).map { (survey.pair + $0) % n }
        let target: Int, how: ModelReport.Recall, label: String
        if let p = order.first(where: { survey.recall[$0] == nil }) {
            (target, how) = (p, ModelSurvey.estimate)
            label = "estimating recall: pair \(survey.recallCounts.known + 1) of \(n)"
        } else if let p = order.first(where: { survey.recall[$0]?.sampled != nil }) {
            (target, how) = (p, .exact)
            label = "exact recall: pair \(survey.recallCounts.exact + 1) of \(n)"
        } else {
            return []
        }
        generation += 1
        job = Job(generation: generation, label: label)
        survey.working = generation
        model = survey
        return [.surveyRecall(pairs: pairs, pair: target, block: block, settings: settings, how: how, generation: generation)]
    }

    /// Takes in a pair's recall when it is at the view's settings.
    mutating func applyModelRecall(pair: Int, _ figures: RecallFigures?, problem: String?, block: BlockShape, settings: MaskSettings) {
        guard var survey = model, survey.settings == settings, survey.block == block, pair < survey.recall.count else { return }
        survey.working = nil
        if let figures { survey.recall[pair] = figures }
        if let problem, let pairs { survey.recallProblem = "\(ModelDump.name(ofPrefix: pairs.prefixes[pair])): \(problem)" }
        model = survey
        lastSurvey = survey
    }

    /// What a map action does in the model view (its own keys are `Keymap.model`'s, handled
    /// first by `modelKey`); `nil` lets the normal handling run.
    mutating func modelAction(_ action: Action) -> [Effect]? {
        guard let survey = model, let pairs else { return nil }
        switch action {
        case .select:
            closeModel()
            head = survey.head
            return survey.pair == pairs.index ? [] : openPair(survey.pair)
        case .cycleBlock:
            message = .error("leave the model view (m) to change the block shape")
            return []
        case .changeThreshold, .toggleSTA:
            model = nil
            _ = perform(action)
            model = survey
            return surveyIfStale()
        case .cancel, .toggleModel:
            closeModel()
            return []
        case .zoomIn, .zoomOut, .zoomFit, .toggleOverview, .toggleTrueMass, .teach,
             .moveCursor, .moveFrame, .changeHead, .changePair:
            // The view's own table (`Keymap.model`) binds the keys that move its cell.
            return []
        case .toggleHelp, .openPrompt, .quit:
            return nil
        }
    }

    /// Loads pair `i` of the dump (wrapping). The index moves at once, so keys pressed
    /// while a pair loads count from the pair asked for, not the one on screen.
    mutating func openPair(_ i: Int) -> [Effect] {
        guard var pairs else {
            message = .error("one Q/K pair: n and p move between the pairs of a whole-model dump")
            return []
        }
        pairs.index = (i % pairs.prefixes.count + pairs.prefixes.count) % pairs.prefixes.count
        self.pairs = pairs
        return startLoad(pairs.request(for: pairs.index),
                         label: "\(pairs.path):\(ModelDump.name(ofPrefix: pairs.prefixes[pairs.index]))")
    }

    /// Selects a cell of the model view from a click; `true` when the click was on one.
    mutating func clickModel(x: Int, y: Int) -> Bool {
        guard var survey = model, let pairs else { return false }
        let geometry = ModelGeometry(area: ScreenLayout(state: self, size: size).overviewArea,
                                     prefixes: pairs.prefixes, heads: heads, selected: survey.pair)
        guard let (row, column) = geometry.cell(x: x, y: y) else { return false }
        survey.pair = row
        survey.head = column
        model = survey
        return true
    }
}

/// Where the model view puts its rows and columns in an area of the screen: a header
/// row of head numbers, then one row per pair (scrolled to keep `selected` in view),
/// labels on the left, one column per head.
struct ModelGeometry {
    let area: Rect
    let labelWidth: Int
    let cellWidth: Int
    let firstRow: Int
    let visibleRows: Int
    let heads: Int
    let pairs: Int

    init(area: Rect, prefixes: [String], heads: Int, selected: Int) {
        self.area = area
        self.heads = max(heads, 1)
        pairs = prefixes.count
        let longest = prefixes.map { $0.count }.max() ?? 1
        // Labels as long as the longest prefix when the cells keep 5 columns (room for
        // "100%"), else what is left, at least 6.
        labelWidth = min(longest + 2, max(area.width - self.heads * 5, 6))
        cellWidth = max(1, min(7, (area.width - labelWidth) / self.heads))
        visibleRows = max(area.height - 2, 0)
        firstRow = visibleRows == 0 ? 0 : min(max(0, selected - visibleRows / 2), max(0, pairs - visibleRows))
    }

    /// The screen row of pair `p`, when it is in view.
    func y(ofPair p: Int) -> Int? {
        guard p >= firstRow, p < firstRow + visibleRows else { return nil }
        return area.y + 1 + p - firstRow
    }

    func x(ofHead h: Int) -> Int { area.x + labelWidth + h * cellWidth }

    func cell(x: Int, y: Int) -> (Int, Int)? {
        let row = y - area.y - 1 + firstRow
        let column = (x - area.x - labelWidth)
        guard row >= firstRow, row < min(pairs, firstRow + visibleRows), column >= 0 else { return nil }
        let h = column / cellWidth
        return h < heads ? (row, h) : nil
    }
}
