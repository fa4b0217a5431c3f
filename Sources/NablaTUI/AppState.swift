import NablaCore

/// How the app starts: what to open and the initial settings.
public struct AppConfig: Sendable {
    /// Input arguments for the loader (`[]` opens the built-in sample).
    public var arguments: [String]
    /// The name shown while the input loads.
    public var inputName: String
    public var block: BlockShape
    public var threshold: Double
    public var sta: STAWindow?
    /// The head to show first, by tensor index; `nil`: the first loaded head.
    public var head: Int?
    public var theme: Theme
    public var mouse: Bool

    public init(arguments: [String] = [], inputName: String = "sample", block: BlockShape = .nabla,
                threshold: Double = 0.9, sta: STAWindow? = nil, head: Int? = nil,
                theme: Theme = Theme(mode: .palette256, glyphs: .unicodeSet), mouse: Bool = true) {
        self.arguments = arguments
        self.inputName = inputName
        self.block = block
        self.threshold = threshold
        self.sta = sta
        self.head = head
        self.theme = theme
        self.mouse = mouse
    }
}

/// Everything the screen shows, as a value: the engine's results for the current
/// settings, the view (cursor, zoom, panels) and the interaction state.
public struct AppState: Sendable {
    public enum Mode: Equatable, Sendable {
        case normal
        case help
        /// The `:` prompt with the text typed so far.
        case prompt(String)
    }

    public enum Message: Equatable, Sendable {
        case info(String)
        case error(String)

        public var text: String {
            switch self {
            case .info(let t), .error(let t): t
            }
        }
    }

    /// A background job the app waits for.
    public struct Job: Equatable, Sendable {
        public var generation: Int
        /// What the status line shows while it runs, e.g. `computing 1x16x16`.
        public var label: String
        /// Whether it loads an input (rather than computing a map of the loaded one).
        public var isLoad = false
        /// Whether Esc stops it (loads and block shapes; a save runs to its end).
        public var isCancellable = false
        /// The stage it is in and how far along, as its job last reported.
        public var progress: JobProgress?

        /// `computing 1x4x4: map head 3 of 8`; while reading, the file and bytes alone
        /// (`loading q.npy 1.2 of 2.0 GB`, which says what the label would).
        public var statusText: String {
            switch progress {
            case .reading?: progress?.text ?? label
            case let p?: label + ": " + p.text
            case nil: label + "…"
            }
        }
    }

    /// The re-cut after a threshold or STA change: the head on screen is cut at once,
    /// the other heads in the background (`Effect.cutHeads`) until the mask of every head
    /// arrives.
    public struct PendingCut: Sendable {
        /// The generation of the background job (`AppState.cutGeneration`).
        public var generation: Int
        /// The map it cuts (the map on screen: a new map ends the re-cut).
        var map: ObjectIdentifier
        public var settings: MaskSettings
        /// Heads already cut at `settings`, one head each, keyed by head.
        public var done: [Int: BlockMask]
        /// The head the background job reported last.
        public var progress: JobProgress?

        /// Heads cut so far: those in `done` and those the job went past (it cuts in
        /// head order).
        public var headsCut: Int {
            guard case .cut(let head, _)? = progress else { return done.count }
            return Set(done.keys).union(0..<head).count
        }
    }

    public var theme: Theme
    public var keymap: Keymap
    public var mouseEnabled: Bool
    public var size: Size

    public var inputName: String
    /// What the first load opens (`AppConfig.arguments`).
    let initialArguments: [String]
    public var input: QKInput?
    public var map: PooledMap?
    /// The mask of every head of `map`; while `pendingCut` runs, at older settings (or
    /// `nil` after a new map): see `headMask(_:)` for what each head shows.
    public var mask: BlockMask?
    /// The other heads' re-cut, while it runs.
    public var pendingCut: PendingCut?
    /// The generation of the newest re-cut; results of older ones are dropped.
    public var cutGeneration = 0
    /// Cuts of the current head at the settings one key away, made in the background
    /// after each change (see `refreshPrefetch()`).
    public var prefetched: PrefetchedCuts?

    public var threshold: Double
    /// The STA window in use, or `nil` (off).
    public var sta: STAWindow?
    /// The window `s` turns on: Kandinsky's 11x3x3 or the last one set by `:sta`.
    public var staWindow: STAWindow
    /// The head on screen: its position among the loaded heads (`0..<heads`). It is named
    /// by its tensor index, `headIndex`, wherever it is shown or typed (they differ under a
    /// head selection).
    public var head: Int
    /// The head asked for at start (`AppConfig.head`, a tensor index) until the first load
    /// turns it into `head`.
    var initialHead: Int?
    /// The block shape last asked for (the map's shape once its job is done).
    public var requestedBlock: BlockShape

    public var cursor: BlockPair
    /// The tokens `(t, y, x)` the cursor's query and key blocks stand for across block-shape
    /// changes, and the cursor they were taken at: while the cursor stays put, every change
    /// of block shape places it on the blocks holding these same tokens, so cycling the
    /// shapes comes back to the same blocks (issue 20, item 10). Moving the cursor retakes
    /// them from the new blocks' centres.
    var cursorTokens: (at: BlockPair, query: TokenCoordinate, key: TokenCoordinate)?
    public var zoom: Int
    /// Top-left block of the map view.
    public var origin: BlockPair
    public var mode: Mode
    public var overview: Bool
    /// The pairs of the whole-model dump on screen, or `nil` for any other input.
    public var pairs: DumpPairs?
    /// The model view when it is open.
    public var model: ModelSurvey?
    /// The model view as last closed, shown again while a new survey computes.
    var lastSurvey: ModelSurvey?
    /// Lines the help is scrolled down by (the renderer keeps it within the help).
    public var helpOffset: Int
    /// Where the prompt's cursor is: a character index into the prompt's text.
    public var promptCursor = 0
    /// Prompt lines run so far, oldest first (Up and Down walk them).
    public var promptHistory: [String] = []
    /// The history entry the prompt shows, while walking it.
    var historyIndex: Int?
    /// The teaching view in place of the map panel, if one is open.
    public var teaching: TeachingView?
    public var message: Message?
    public var job: Job?
    /// The generation of the newest job; results of older ones are dropped, except:
    public var generation: Int
    /// A load that was running when a newer one started: kept until the newer one
    /// succeeds, so that a failed `:open` never loses what was being loaded.
    public var fallbackLoad: Job?
    /// The fallback load's result, when it finished before the newer load did.
    var fallbackOutcome: JobOutcome?
    public var spinner: Int

    /// Stage times of the last map computation (pool, map) and the last cut of the head on
    /// screen (cut, sta, stats).
    public var mapTimes: StageTimes
    public var cutTimes: StageTimes
    /// Times to show instead of the measured ones (tests and documentation).
    public var pinnedTimes: StageTimes?
    /// The kernel level and FP32 peak (FLOP/s) the timing panel shows instead of the
    /// machine's (tests and documentation pin them, as they pin times).
    public var pinnedKernels: (name: String, peakFlops: Double)?
    public var quitRequested: Bool

    /// Sparse and dense attention, error and recall of the current head (the timing panel).
    public var attention: AttentionPanel?
    /// The attention stages running, for the progress indication.
    public var attentionJob: Job?
    /// The generation of the newest attention request; older results are dropped.
    public var attentionGeneration: Int
    /// The block map shows the true block mass instead of the pooled estimate.
    public var showTrueMass: Bool
    /// The generation of the newest teaching-view kernel request (`TeachingJob`); older
    /// results are dropped.
    public var teachingGeneration = 0

    public init(config: AppConfig) {
        theme = config.theme
        keymap = .standard
        mouseEnabled = config.mouse
        size = Size(width: 80, height: 24)
        inputName = config.inputName
        threshold = min(max(config.threshold, 0), 1)
        sta = config.sta
        staWindow = config.sta ?? .kandinsky
        head = 0
        initialHead = config.head
        requestedBlock = config.block
        cursor = BlockPair(query: 0, key: 0)
        zoom = 0
        origin = BlockPair(query: 0, key: 0)
        mode = .normal
        overview = false
        helpOffset = 0
        generation = 0
        spinner = 0
        mapTimes = StageTimes()
        cutTimes = StageTimes()
        quitRequested = false
        attentionGeneration = 0
        showTrueMass = false
        initialArguments = config.arguments
    }

    /// The block shape of the map on screen.
    public var block: BlockShape { map?.blocks.block ?? requestedBlock }
    public var heads: Int { map?.heads ?? input?.heads ?? 0 }
    /// The tensor index of every loaded head, in position order (`QKInput.headIndices`).
    public var headIndices: [Int] { input?.headIndices ?? Array(0..<heads) }
    /// The tensor index of the head at `position`: how the head is named on screen.
    public func headIndex(_ position: Int) -> Int {
        let indices = headIndices
        return indices.indices.contains(position) ? indices[position] : position
    }
    /// The tensor index of the head on screen.
    public var headIndex: Int { headIndex(min(head, max(heads - 1, 0))) }
    /// The head on screen as the status line and map title name it, by tensor index with
    /// the range of indices beside it, so a 0-based index never reads as a count: `3 (0-7)`,
    /// or under a head selection the indices selected, `3 (sel. 3,5)` (`3 (sel. 12 heads)`
    /// when the list is long) (issue 20, item 11).
    public var headLabel: String {
        if headIndices == Array(0..<heads) { return "\(headIndex) (0-\(max(heads - 1, 0)))" }
        let list = headIndices.map(String.init).joined(separator: ",")
        return "\(headIndex) (sel. \(list.count <= 16 ? list : "\(heads) heads"))"
    }
    public var settings: MaskSettings { MaskSettings(threshold: threshold, sta: sta) }

    /// The stage times shown: pool, map, cut, sta, stats.
    public var times: StageTimes { pinnedTimes ?? (mapTimes + cutTimes) }

    /// Cuts of one head of one map at several settings, each `[1, N, N]`.
    public struct PrefetchedCuts: Sendable {
        var map: ObjectIdentifier
        public var head: Int
        public var cuts: [MaskSettings: BlockMask]
        /// The settings asked for (some may not be cut yet).
        var asked: Set<MaskSettings>
    }

    /// The mask head `h` shows: its own cut at the current settings when the re-cut did it
    /// first, else its part of `mask` (at older settings while the re-cut is pending);
    /// `nil` when neither exists for the current map.
    public func headMask(_ h: Int) -> HeadMask? {
        if let part = pendingCut?.done[h] { return HeadMask(mask: part, index: 0, isCurrent: true) }
        guard let mask, let map, mask.blocks == map.blocks, h < mask.heads else { return nil }
        return HeadMask(mask: mask, index: h, isCurrent: pendingCut == nil && mask.settings == settings)
    }

    /// The map view for the current size and zoom.
    public var viewport: Viewport? {
        guard let map else { return nil }
        let layout = ScreenLayout(state: self, size: size)
        return Viewport(n: map.n, pixelsWide: layout.pixelsWide, pixelsTall: layout.pixelsTall,
                        zoom: zoom, origin: origin)
    }
}
