import NablaCore

/// The first effects of a new app: load the configured input for the screen `size`.
public func start(_ state: inout AppState, size: Size) -> [Effect] {
    state.size = size
    return state.startLoad(state.initialArguments)
}

/// Applies `event` to `state` and returns the work the host must do.
///
/// Threshold, STA and head changes re-cut the head on screen here at once (from the
/// cached map) and the other heads in a background job (`Effect.cutHeads`); block shapes
/// and inputs become jobs whose results come back as `.jobFinished` with their
/// generation, and only the newest generation of each lane counts. Esc cancels a load or
/// block change, keeping what is on screen.
public func reduce(_ state: inout AppState, _ event: InputEvent) -> [Effect] {
    var effects: [Effect]
    switch event {
    case .resize(let size):
        state.size = size
        effects = []
    case .tick:
        if state.isBusy { state.spinner &+= 1 }
        effects = []
    case .jobProgress(let lane, let generation, let progress):
        state.applyProgress(progress, lane: lane, generation: generation)
        return []
    case .jobFinished(let generation, .attention(let stage, let outcome)):
        state.applyAttention(stage, outcome, generation: generation)
        effects = []
    case .jobFinished(let generation, .teaching(let outcome)):
        state.applyTeaching(outcome, generation: generation)
        effects = []
    case .jobFinished(let generation, .recut(let mask)):
        state.applyRecut(mask, generation: generation)
        effects = []
    case .jobFinished(_, .prefetched(let map, let head, let cuts)):
        state.applyPrefetched(cuts, map: map, head: head)
        effects = []
    case .jobFinished(let generation, let outcome):
        if generation == state.fallbackLoad?.generation {
            state.keepFallback(outcome)
            return []
        }
        guard generation == state.generation, let finished = state.job, finished.generation == generation else { return [] }
        state.job = nil
        state.apply(outcome)
        if finished.isLoad { state.settleFallback(after: outcome) }
        effects = []
    case .mouse(let m):
        effects = state.mouseEvent(m)
    case .key(let key):
        effects = state.keyEvent(key)
    }
    state.keepCursorInView()
    // The current head's cuts one key away go before the other heads' re-cut (one lane,
    // run in order): the next key is redrawn from them.
    let cut = state.refreshCut()
    let ahead = state.refreshPrefetch()
    return effects + ahead + cut + state.refreshAttention() + state.requestTeachingWork()
}

extension AppState {
    // MARK: - Keys

    mutating func keyEvent(_ key: Key) -> [Effect] {
        switch mode {
        case .help:
            let page = max(size.height - 4, 1)
            switch key {
            case .character("?"), .escape: mode = .normal
            case .character("q"), .control("c"): return perform(.quit)
            case .character("j"), .down: helpOffset += 1
            case .character("k"), .up: helpOffset = max(helpOffset - 1, 0)
            case .pageDown, .character(" "): helpOffset += page
            case .pageUp: helpOffset = max(helpOffset - page, 0)
            case .home: helpOffset = 0
            case .end: helpOffset = Int.max / 2
            default: break
            }
            helpOffset = min(helpOffset, helpLineCount)
            return []
        case .prompt(let text):
            return promptKey(key, text: text)
        case .normal:
            // A message stays until the next key.
            message = nil
            guard let action = keymap.action(for: key) ?? (key == .enter && model != nil ? .select : nil) else { return [] }
            return perform(action)
        }
    }

    /// Does what `action` asks.
    mutating func perform(_ action: Action) -> [Effect] {
        if model != nil, let effects = modelAction(action) { return effects }
        if followMove(action) { return [] }
        switch action {
        case .moveCursor(let dq, let dk):
            guard let map, let view = viewport else { return [] }
            let step = view.blocksPerPixel
            cursor = BlockPair(query: clamp(cursor.query + dq * step, map.n), key: clamp(cursor.key + dk * step, map.n))
        case .moveFrame(let dq, let dk):
            guard let map else { return [] }
            let step = map.blocks.blocksPerSlab
            cursor = BlockPair(query: clamp(cursor.query + dq * step, map.n), key: clamp(cursor.key + dk * step, map.n))
        case .zoomIn:
            setZoom(zoom + 1)
        case .zoomOut:
            setZoom(zoom - 1)
        case .zoomFit:
            setZoom(0)
        case .changeHead(let d):
            let count = heads
            if count > 0 { head = ((head + d) % count + count) % count }
        case .changeThreshold(let hundredths):
            let t = min(max(((threshold * 100).rounded() + Double(hundredths)) / 100, 0), 1)
            threshold = t
        case .cycleBlock(let d):
            guard let input else {
                message = .error("nothing is loaded")
                return []
            }
            // Every standard shape: a grid one does not divide gets partial edge blocks (or crop).
            _ = input
            let shapes = BlockShape.standard
            let from = shapes.firstIndex(of: requestedBlock) ?? shapes.firstIndex(of: block) ?? 0
            return startCompute(shapes[((from + d) % shapes.count + shapes.count) % shapes.count])
        case .toggleSTA:
            sta = sta == nil ? staWindow : nil
        case .toggleOverview:
            overview.toggle()
        case .toggleTrueMass:
            showTrueMass.toggle()
            if showTrueMass && attention?.mass == nil {
                message = .info("the true block mass is being computed; the map shows it when it is ready")
            }
        case .changePair(let d):
            return openPair((pairs?.index ?? 0) + d)
        case .toggleModel:
            return toggleModelView()
        case .select:
            break
        case .teach(let kind):
            toggleTeaching(kind)
        case .toggleHelp:
            mode = mode == .help ? .normal : .help
            helpOffset = 0
        case .openPrompt:
            mode = .prompt("")
            promptCursor = 0
            historyIndex = nil
        case .cancel:
            // "Back": out of help or the prompt, then stop a load or block change, then out of
            // a teaching view, then the overview.
            if mode == .normal {
                if let running = job, running.isCancellable {
                    cancelJob(running)
                    return []
                }
                if teaching != nil { teaching = nil } else { overview = false }
            }
            mode = .normal
            message = nil
        case .quit:
            quitRequested = true
            return [.quit]
        }
        return []
    }

    /// Runs a prompt line; a bad one changes nothing but the status message.
    mutating func execute(_ line: String) -> [Effect] {
        let command: PromptCommand
        do {
            command = try PromptCommand.parse(line, headIndices: heads > 0 ? headIndices : nil)
        } catch let error as NablaError {
            message = .error(error.message)
            return []
        } catch {
            message = .error("\(error)")
            return []
        }
        switch command {
        case .threshold(let t):
            threshold = t
        case .head(let h):
            guard heads > 0 else {
                message = .error("nothing is loaded")
                return []
            }
            head = headIndices.firstIndex(of: h) ?? head
        case .block(let shape):
            guard let input else {
                message = .error("nothing is loaded")
                return []
            }
            if let text = (try? input.blockGrid(shape))?.edgeText { message = .info(text) }
            return startCompute(shape)
        case .edge(let mode):
            return setEdge(mode)
        case .sta(let window):
            sta = window
            if let window {
                staWindow = window
                // A window that reaches every block of an axis is legal but worth a word.
                if let blocks = map?.blocks, let axes = window.coveredAxesText(of: blocks) {
                    message = .info("STA \(window) covers every block in \(axes) of the \(blocks.tb)x\(blocks.hb)x\(blocks.wb) block grid")
                }
            }
        case .plot(let path):
            plot(to: path)
        case .compare(let spec):
            // The compare view draws B on A's block map: a B of another block shape has no
            // place there (issue 20, item 3). nabla diff compares such masks token by token.
            if let other = spec.block, other != block {
                message = .error("compare: B's block \(other) differs from the map's \(block); compare other block shapes with nabla diff")
                return []
            }
            teaching = .compare(CompareView(spec: spec))
            refreshTeaching()
        case .open(let arguments):
            return startLoad(arguments)
        case .save(let directory):
            guard let input, let mask else {
                message = .error("nothing is loaded to save")
                return []
            }
            guard job == nil else {
                message = .error("wait for \(job!.label) to finish, then :save again")
                return []
            }
            // The save runs as a job of the current generation: it does not make the map stale.
            job = Job(generation: generation, label: "saving to \(directory)")
            return [.saveMask(input: input, block: mask.blocks.block, settings: settings, directory: directory, generation: generation)]
        case .quit:
            return perform(.quit)
        }
        return []
    }

    // MARK: - Mouse

    mutating func mouseEvent(_ m: MouseEvent) -> [Effect] {
        guard mouseEnabled, mode != .help else { return [] }
        switch m.kind {
        case .wheelUp: return perform(.zoomIn)
        case .wheelDown: return perform(.zoomOut)
        case .press: break
        }
        if model != nil {
            return clickModel(x: m.x, y: m.y) ? perform(.select) : []
        }
        guard let map, let view = viewport else { return [] }
        let layout = ScreenLayout(state: self, size: size)
        guard !layout.tooSmall else { return [] }
        if overview {
            let thumbs = ScreenLayout.thumbnails(heads: map.heads, in: layout.overviewArea,
                                                 pixelRowsPerCell: layout.pixelRowsPerCell, cellsPerPixel: layout.cellsPerPixel)
            if let h = thumbs.firstIndex(where: { $0.pixels.contains(x: m.x, y: m.y) || $0.label.contains(x: m.x, y: m.y) }) {
                head = h
            }
            return []
        }
        guard layout.mapArea.contains(x: m.x, y: m.y) else { return [] }
        let px = (m.x - layout.mapArea.x) / layout.cellsPerPixel
        let py = (m.y - layout.mapArea.y) * layout.pixelRowsPerCell
        guard px < view.drawnWidth, py < view.drawnHeight else { return [] }
        let rows = view.blocks(pixel: py, from: view.origin.query)
        let cols = view.blocks(pixel: px, from: view.origin.key)
        guard let a = rows.first, let b = cols.first else { return [] }
        cursor = BlockPair(query: a, key: b)
        return []
    }

    // MARK: - Engine

    /// Whether a spinner turns: a job, the other heads' re-cut or attention runs.
    public var isBusy: Bool { job != nil || pendingCut != nil || attentionJob != nil }

    /// Keeps the mask in step with the map and settings, the head on screen first: when
    /// they changed, cuts the head on screen now (from the cached map) and asks for the
    /// other heads in the background; when the re-cut is pending and the head on screen is
    /// not cut yet (a head change), cuts it now. A newer re-cut makes older ones stale.
    mutating func refreshCut() -> [Effect] {
        guard let map else { return [] }
        if let mask, mask.blocks == map.blocks, mask.settings == settings {
            if pendingCut != nil {
                // Back to the settings of the mask on screen: the re-cut is not needed.
                pendingCut = nil
                cutGeneration += 1
            }
            return []
        }
        let h = min(head, map.heads - 1)
        if var pending = pendingCut, pending.settings == settings, pending.map == ObjectIdentifier(map) {
            if pending.done[h] == nil {
                let part = cutHead(h, of: map)
                cutTimes = part.times
                pending.done[h] = part
                pendingCut = pending
            }
            return []
        }
        cutGeneration += 1
        let part = cutHead(h, of: map)
        cutTimes = part.times
        if map.heads == 1 {
            pendingCut = nil
            mask = part
            refreshTeaching()
            return []
        }
        pendingCut = PendingCut(generation: cutGeneration, map: ObjectIdentifier(map), settings: settings, done: [h: part])
        return [.cutHeads(map: map, settings: settings, done: [h: part], generation: cutGeneration)]
    }

    /// Head `h`'s cut at the current settings: made ahead of time, or now.
    mutating func cutHead(_ h: Int, of map: PooledMap) -> BlockMask {
        if let p = prefetched, p.map == ObjectIdentifier(map), p.head == h, let cut = p.cuts[settings] { return cut }
        return map.cut(settings, heads: h..<(h + 1))
    }

    /// The settings one key away from the current ones: threshold -0.01, +0.01, -0.10,
    /// +0.10 (as the keys round and clamp them) and STA toggled.
    var settingsOneKeyAway: [MaskSettings] {
        let around = [-1, 1, -10, 10].map { d in
            MaskSettings(threshold: min(max(((threshold * 100).rounded() + Double(d)) / 100, 0), 1), sta: sta)
        }
        var seen: Set<MaskSettings> = [settings]
        return (around + [MaskSettings(threshold: threshold, sta: sta == nil ? staWindow : nil)]).filter { seen.insert($0).inserted }
    }

    /// Unless a map or load runs, asks for the current head's cuts one key away that are
    /// not made or asked for yet (a new map or head starts over). The job runs on the
    /// re-cut lane, before the other heads' re-cut: the next key's re-cut supersedes it,
    /// keeping what it finished.
    mutating func refreshPrefetch() -> [Effect] {
        guard let map, job == nil, map.heads > 0 else { return [] }
        let h = min(head, map.heads - 1)
        let id = ObjectIdentifier(map)
        if prefetched?.map != id || prefetched?.head != h {
            prefetched = PrefetchedCuts(map: id, head: h, cuts: [:], asked: [])
        }
        let wanted = settingsOneKeyAway
        // Only the neighbours of the current settings are kept (bounded memory).
        prefetched!.cuts = prefetched!.cuts.filter { wanted.contains($0.key) || $0.key == settings }
        let missing = wanted.filter { !prefetched!.asked.contains($0) }
        guard !missing.isEmpty else { return [] }
        prefetched!.asked = Set(wanted).intersection(prefetched!.asked).union(missing)
        return [.prefetchCuts(map: map, head: h, settings: missing, generation: cutGeneration)]
    }

    /// Keeps cuts made ahead of time when they are for the map and head they were asked for.
    mutating func applyPrefetched(_ cuts: [MaskSettings: BlockMask], map id: ObjectIdentifier, head h: Int) {
        guard var p = prefetched, p.map == id, p.head == h, map.map(ObjectIdentifier.init) == id else { return }
        p.cuts.merge(cuts) { new, _ in new }
        // What the job did not deliver (it stopped early) is asked again when nothing else runs.
        p.asked = Set(p.cuts.keys)
        prefetched = p
    }

    /// Takes in the mask of every head when it is the newest re-cut's, for the map on screen.
    mutating func applyRecut(_ whole: BlockMask?, generation: Int) {
        guard generation == cutGeneration, let whole, let map, let pending = pendingCut,
              pending.map == ObjectIdentifier(map), whole.blocks == map.blocks, whole.settings == settings else { return }
        mask = whole
        pendingCut = nil
        refreshTeaching()
    }

    /// Records how far a running job is, when it is the newest of its lane.
    mutating func applyProgress(_ progress: JobProgress, lane: JobLane, generation: Int) {
        switch lane {
        case .map:
            if job?.generation == generation { job?.progress = progress }
        case .cut:
            if pendingCut?.generation == generation { pendingCut?.progress = progress }
        case .attention, .teaching:
            break
        }
    }

    /// The newest generation of `lane`: its older jobs are stale.
    public func newestGeneration(_ lane: JobLane) -> Int {
        switch lane {
        case .map: generation
        case .cut: cutGeneration
        case .attention: attentionGeneration
        case .teaching: teachingGeneration
        }
    }

    /// Stops a load or block change: its generation becomes stale (the job stops at the
    /// next head or chunk, and its result is dropped); the map, mask, block shape and
    /// input on screen stay as they are.
    mutating func cancelJob(_ running: Job) {
        generation += 1
        job = nil
        fallbackLoad = nil
        fallbackOutcome = nil
        requestedBlock = block
        let kept = map == nil ? "nothing is loaded (:open PATH loads an input)" : "kept block \(block)"
        message = .info("cancelled \(running.label); \(kept)")
    }

    mutating func startCompute(_ shape: BlockShape) -> [Effect] {
        guard let input else { return [] }
        generation += 1
        requestedBlock = shape
        if let map, map.blocks == (try? input.blockGrid(shape)) {
            // Back to the shape on screen: whatever runs is stale now.
            job = nil
            return []
        }
        job = Job(generation: generation, label: "computing \(shape)", isCancellable: true)
        return [.computeMap(input: input, block: shape, generation: generation, firstCut: FirstCut(head: head, settings: settings))]
    }

    mutating func startLoad(_ arguments: [String]) -> [Effect] {
        generation += 1
        // A load still running stays wanted until this one succeeds.
        if let running = job, running.isLoad {
            fallbackLoad = running
            fallbackOutcome = nil
        }
        let name = AppState.displayName(arguments)
        job = Job(generation: generation, label: "loading \(name)", isLoad: true, isCancellable: true)
        return [.loadInput(arguments: arguments, block: requestedBlock, generation: generation,
                           firstCut: FirstCut(head: head, settings: settings))]
    }

    /// What `arguments` open, for the progress label: `sample`, or the arguments as typed
    /// (the loader, not the app, knows what they mean; the loaded input brings its name).
    static func displayName(_ arguments: [String]) -> String {
        arguments.isEmpty ? "sample" : arguments.joined(separator: " ")
    }

    mutating func apply(_ outcome: JobOutcome) {
        switch outcome {
        case .computed(let newMap, let cut):
            let old = map?.blocks
            replaceMap(newMap, cut: cut)
            requestedBlock = newMap.blocks.block
            if let old {
                let tokens = cursorTokens.flatMap { $0.at == cursor ? ($0.query, $0.key) : nil }
                    ?? (AppState.centre(of: cursor.query, in: old), AppState.centre(of: cursor.key, in: old))
                cursor = BlockPair(query: AppState.block(holding: tokens.0, in: newMap.blocks),
                                   key: AppState.block(holding: tokens.1, in: newMap.blocks))
                cursorTokens = (cursor, tokens.0, tokens.1)
            }
            if let view = viewport { origin = view.centred(on: cursor) }
        case .loaded(let newInput, let newMap, let note, let newPairs, let cut):
            cursorTokens = nil
            // Moving to another pair of the same dump keeps the cursor and zoom.
            let samePlace = newPairs != nil && pairs?.path == newPairs?.path && map?.n == newMap.n
            // The head by tensor index: the one on screen, or at the first load the one
            // asked for at start (else the input's first head).
            let asked = input == nil && initialHead != nil
            let wanted = input == nil ? (initialHead ?? newInput.headIndices.first ?? 0) : headIndex
            initialHead = nil
            input = newInput
            inputName = newInput.name
            replaceMap(newMap, cut: cut)
            requestedBlock = newMap.blocks.block
            head = newInput.headIndices.firstIndex(of: wanted) ?? min(head, newMap.heads - 1)
            if pairs?.path != newPairs?.path { lastSurvey = nil }
            pairs = newPairs
            if !samePlace {
                cursor = BlockPair(query: newMap.n / 2, key: newMap.n / 2)
                zoom = 0
            }
            if let view = viewport { origin = view.centred(on: cursor) }
            message = note.map(Message.info)
            // A head the input does not have is an error, not a silent last head.
            // A head asked for that the input does not have is an error; the head of the
            // previous input missing from a new one is only a notice.
            if !newInput.headIndices.contains(wanted) {
                let text = PromptCommand.headMissing(wanted, headIndices: newInput.headIndices) + "; showing head \(headIndex)"
                message = asked ? .error(text) : .info(text)
            }
        case .surveyed(let density, let shape, let used):
            guard var survey = model else { return }
            survey.density = density
            survey.block = shape
            survey.settings = used
            model = survey
            lastSurvey = survey
        case .saved(let names, let directory):
            message = .info("wrote \(names.joined(separator: ", ")) to \(directory)")
        case .failed(let text):
            requestedBlock = block
            message = .error(text)
        case .cancelled:
            requestedBlock = block
        case .attention, .recut, .prefetched, .teaching:
            preconditionFailure("attention, re-cut and teaching outcomes have their own lanes")
        }
    }

    /// Puts `newMap` on screen; its mask is cut by `refreshCut()`, the head on screen first
    /// (`cut`, the one its job made, is used when the head and settings still match).
    mutating func replaceMap(_ newMap: PooledMap, cut: BlockMask?) {
        map = newMap
        mapTimes = newMap.times
        mask = nil
        pendingCut = nil
        prefetched = nil
        cutGeneration += 1
        if let cut, cut.blocks == newMap.blocks, cut.heads == 1 {
            let h = min(head, newMap.heads - 1)
            prefetched = PrefetchedCuts(map: ObjectIdentifier(newMap), head: h, cuts: [cut.settings: cut], asked: [cut.settings])
        }
    }

    /// The fallback load finished. When the app waits for it (the newer load failed), its
    /// result is applied now; otherwise a result is kept for later and a failure forgotten.
    mutating func keepFallback(_ outcome: JobOutcome) {
        let waiting = job?.generation == fallbackLoad?.generation
        if waiting {
            job = nil
            fallbackLoad = nil
            fallbackOutcome = nil
            let failure = message
            apply(outcome)
            if case .loaded = outcome { message = failure }
        } else if case .loaded = outcome {
            fallbackOutcome = outcome
        } else {
            fallbackLoad = nil
            fallbackOutcome = nil
        }
    }

    /// After the newest load's `outcome`: when it failed, fall back to the load it
    /// replaced (its result, or wait for it); when it succeeded, the fallback is not needed.
    mutating func settleFallback(after outcome: JobOutcome) {
        guard let fallback = fallbackLoad else { return }
        if case .failed = outcome {
            if let result = fallbackOutcome {
                let failure = message
                fallbackLoad = nil
                fallbackOutcome = nil
                apply(result)
                message = failure
            } else {
                job = fallback
            }
        } else {
            fallbackLoad = nil
            fallbackOutcome = nil
        }
    }

    // MARK: - View

    mutating func setZoom(_ level: Int) {
        guard let map else { return }
        let layout = ScreenLayout(state: self, size: size)
        let view = Viewport(n: map.n, pixelsWide: layout.pixelsWide, pixelsTall: layout.pixelsTall, zoom: level)
        zoom = view.zoom
        origin = view.centred(on: cursor)
    }

    /// Clamps zoom and origin to the map and panel and scrolls the cursor into view.
    mutating func keepCursorInView() {
        guard let map else { return }
        cursor = BlockPair(query: clamp(cursor.query, map.n), key: clamp(cursor.key, map.n))
        guard let view = viewport else { return }
        zoom = view.zoom
        origin = view.following(cursor)
    }
}

func clamp(_ v: Int, _ n: Int) -> Int { min(max(v, 0), max(n - 1, 0)) }
