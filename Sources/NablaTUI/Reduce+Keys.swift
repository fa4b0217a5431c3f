import NablaCore

extension AppState {
    mutating func keyEvent(_ key: Key) -> [Effect] {
        switch mode {
        case .help:
            guard let action = Keymap.help.action(for: key) else { return [] }
            let page = max(size.height - 4, 1)
            switch action {
            case .close: mode = .normal
            case .quit: return perform(.quit)
            case .scroll(let lines): helpOffset = max(helpOffset + lines, 0)
            case .page(let pages): helpOffset = max(helpOffset + pages * page, 0)
            case .top: helpOffset = 0
            case .bottom: helpOffset = Int.max / 2
            }
            helpOffset = min(helpOffset, helpLineCount)
            return []
        case .prompt(let text):
            return promptKey(key, text: text)
        case .normal:
            // A message stays until the next key.
            message = nil
            if let effects = viewKey(key) { return effects }
            guard let action = keymap.action(for: key) else { return [] }
            return perform(action)
        }
    }

    /// Does what `action` asks.
    mutating func perform(_ action: Action) -> [Effect] {
        if model != nil, let effects = modelAction(action) { return effects }
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
            threshold = settings.stepped(by: hundredths).threshold
        case .cycleBlock(let d):
            guard hasInput else {
                message = .error("nothing is loaded")
                return []
            }
            // Every standard shape: a grid one does not divide gets partial edge blocks (or crop).
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
            openTeaching(kind)
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
                if teaching != nil { leaveTeaching() } else { overview = false }
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
        } catch {
            message = .error(error.shownText)
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
            guard hasInput else {
                message = .error("nothing is loaded")
                return []
            }
            if let text = (try? input?.blockGrid(shape) ?? lazyInput?.blockGrid(shape))?.edgeText { message = .info(text) }
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
            return plot(to: path)
        case .compare(let spec):
            // The compare view draws B on A's block map: a B of another block shape has no
            // place there (issue 20, item 3). nabla diff compares such masks token by token.
            if let other = spec.block, other != block {
                message = .error("compare: B's block \(other) differs from the map's \(block); compare other block shapes with nabla diff")
                return []
            }
            teaching = .compare(CompareView(spec: spec))
            refreshTeaching()
        case .open(let words):
            let request: InputSpec
            do {
                request = try openParser(words)
            } catch {
                message = .error(error.shownText)
                return []
            }
            return startLoad(request, label: words.joined(separator: " "))
        case .save(let directory):
            if input == nil, let lazy = lazyInput { return saveMap(lazy, to: directory) }
            guard let input, let map else {
                message = .error("nothing is loaded to save")
                return []
            }
            guard job == nil else {
                message = .error("wait for \(job!.label) to finish, then :save again")
                return []
            }
            // The save runs as a job of the current generation: it does not make the map stale.
            job = Job(generation: generation, label: "saving to \(directory)")
            return [.saveMask(input: input, map: map, mask: currentMask, settings: settings, directory: directory, generation: generation)]
        case .quit:
            return perform(.quit)
        }
        return []
    }
}
