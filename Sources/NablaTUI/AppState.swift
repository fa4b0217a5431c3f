import NablaCore

/// How the app starts: what to open and the initial settings.
public struct AppConfig: Sendable {
    /// What the first load opens (the built-in sample by default): a typed request, read
    /// by the loader with the block the app is at (`InputLoader`).
    public var input: InputSpec
    /// Turns the words typed after `:open` into a request; the front end's own parser
    /// (the commands' input syntax). The default takes paths only (`positionalInputs`).
    public var openParser: InputParser
    /// The name shown while the input loads.
    public var inputName: String
    public var block: BlockShape
    public var threshold: Double
    public var sta: STAWindow?
    /// The head to show first, by tensor index; `nil`: the first loaded head.
    public var head: Int?
    public var theme: Theme
    public var mouse: Bool

    public init(input: InputSpec = InputSpec(source: .sample), openParser: @escaping InputParser = AppConfig.positionalInputs,
                inputName: String = "sample", block: BlockShape = .nabla,
                threshold: Double = 0.9, sta: STAWindow? = nil, head: Int? = nil,
                theme: Theme = Theme(mode: .palette256, glyphs: .unicodeSet), mouse: Bool = true) {
        self.input = input
        self.openParser = openParser
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

    public var theme: Theme
    public var keymap: Keymap
    public var mouseEnabled: Bool
    public var size: Size

    public var inputName: String
    /// What the first load opens (`AppConfig.input`).
    let initialRequest: InputSpec
    /// How `:open` reads its words (`AppConfig.openParser`).
    let openParser: InputParser
    public var input: QKInput?
    /// The input whose map came from the one-pass pooling while its token-level data is
    /// not loaded (`input` is then `nil`; `LazyInput`).
    public var lazyInput: LazyInput?
    /// The map on screen, the mask of its heads, the re-cut and the cuts made ahead of
    /// time: what the head on screen shows, as one value (`CurrentCut`).
    public var cut = CurrentCut()
    /// The newest generation of each job lane; results of older jobs are dropped.
    public var generations = Generations()

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
    /// A load that was running when a newer one started: kept until the newer one
    /// succeeds, so that a failed `:open` never loses what was being loaded.
    public var fallbackLoad: Job?
    /// The fallback load's result, when it finished before the newer load did.
    var fallbackOutcome: JobOutcome?
    public var spinner: Int

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
    /// The block map shows the true block mass instead of the pooled estimate.
    public var showTrueMass: Bool

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
        spinner = 0
        quitRequested = false
        showTrueMass = false
        initialRequest = config.input
        openParser = config.openParser
    }

    /// The block shape of the map on screen.
    public var block: BlockShape { map?.blocks.block ?? requestedBlock }
    public var heads: Int { map?.heads ?? input?.heads ?? 0 }
    /// The tensor index of every loaded head, in position order (`QKInput.headIndices`).
    public var headIndices: [Int] { input?.headIndices ?? lazyInput?.headIndices ?? Array(0..<heads) }
    /// The tensor index of the head at `position`: how the head is named on screen.
    public func headIndex(_ position: Int) -> Int {
        let indices = headIndices
        return indices.indices.contains(position) ? indices[position] : position
    }
    /// The head on screen, clamped to the loaded heads (position, `0..<heads`): what every
    /// view, job and figure reads.
    public var currentHead: Int { min(max(head, 0), max(heads - 1, 0)) }
    /// The tensor index of the head on screen.
    public var headIndex: Int { headIndex(currentHead) }
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

    /// The mask head `h` shows: its own cut at the current settings when the re-cut did it
    /// first, else its part of `mask` (at older settings while the re-cut is pending);
    /// `nil` when neither exists for the current map.
    public func headMask(_ h: Int) -> HeadMask? { cut.headMask(h, settings: settings) }

    /// The map view for the current size and zoom.
    public var viewport: Viewport? {
        guard let map else { return nil }
        let layout = ScreenLayout(state: self, size: size)
        return Viewport(n: map.n, pixelsWide: layout.pixelsWide, pixelsTall: layout.pixelsTall,
                        zoom: zoom, origin: origin)
    }
}
