import NablaCore

extension AppState {
    /// Takes in what a job of `lane` and `generation` produced; a result of an older
    /// generation of its lane is dropped. Returns `false` when the event changed nothing
    /// that needs the cut, prefetch and panels brought up to date.
    mutating func finish(_ outcome: JobOutcome, lane: JobLane, generation: Int) -> Bool {
        switch (lane, outcome) {
        case (.attention, .attention(let stage, let result)):
            applyAttention(stage, result, generation: generation)
        case (.teaching, .teaching(let result)):
            applyTeaching(result, generation: generation)
        case (.cut, .recut(let whole)):
            applyRecut(whole, generation: generation)
        case (.cut, .prefetched(let map, let head, let cuts)):
            applyPrefetched(cuts, map: map, head: head)
        case (.files, .wroteFigure(let path)):
            message = .info("wrote \(path)")
        case (.files, .failed(let text)):
            message = .error(text)
        case (.files, .listed(let line, let entries)):
            guard generation == generations[.files] else { return false }
            completeListed(line, entries)
        case (.map, _):
            if generation == fallbackLoad?.generation {
                keepFallback(outcome)
                return false
            }
            guard generation == self.generation, let finished = job, finished.generation == generation else { return false }
            job = nil
            if finished.generation == lazyInput?.loading, case .failed = outcome {
                // A failed token-level load is not retried by itself (as after Esc).
                lazyInput?.declined = true
                lazyInput?.wanted = (teaching != nil, showTrueMass)
            }
            apply(outcome)
            if finished.isLoad { settleFallback(after: outcome) }
        default:
            // A job that stopped because a newer one of its lane exists: nothing to take in.
            break
        }
        return true
    }

    /// Records how far a running job is, when it is the newest of its lane.
    mutating func applyProgress(_ progress: JobProgress, lane: JobLane, generation: Int) {
        switch lane {
        case .map:
            if job?.generation == generation { job?.progress = progress }
        case .cut:
            if pendingCut?.generation == generation { pendingCut?.progress = progress }
        case .attention, .teaching, .files:
            break
        }
    }

    /// The newest generation of `lane`: its older jobs are stale.
    public func newestGeneration(_ lane: JobLane) -> Int { generations[lane] }

    /// Stops a load or block change: its generation becomes stale (the job stops at the
    /// next head or chunk, and its result is dropped); the map, mask, block shape and
    /// input on screen stay as they are.
    mutating func cancelJob(_ running: Job) {
        if running.generation == lazyInput?.loading {
            generation += 1
            job = nil
            return declineTokens()
        }
        generation += 1
        job = nil
        fallbackLoad = nil
        fallbackOutcome = nil
        requestedBlock = block
        let kept = map == nil ? "nothing is loaded (:open PATH loads an input)" : "kept block \(block)"
        message = .info("cancelled \(running.label); \(kept)")
    }

    mutating func startCompute(_ shape: BlockShape) -> [Effect] {
        if input == nil, let lazy = lazyInput { return startRepool(shape, lazy) }
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

    /// Loads `request` (`label` names it while it loads: the words typed, or the input's name).
    mutating func startLoad(_ request: InputSpec, label: String) -> [Effect] {
        generation += 1
        // A load still running stays wanted until this one succeeds.
        if let running = job, running.isLoad {
            fallbackLoad = running
            fallbackOutcome = nil
        }
        job = Job(generation: generation, label: "loading \(label)", isLoad: true, isCancellable: true)
        return [.loadInput(request: request, block: requestedBlock, generation: generation,
                           firstCut: FirstCut(head: head, settings: settings))]
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
            applyLoaded(newInput.headIndices, name: newInput.name, map: newMap, note: note, pairs: newPairs, cut: cut) {
                $0.input = newInput
                $0.lazyInput = nil
            }
        case .loadedMap(let lazy, let newMap, let note, let newPairs, let cut):
            applyLoaded(lazy.headIndices, name: lazy.name, map: newMap, note: note, pairs: newPairs, cut: cut) {
                $0.input = nil
                $0.lazyInput = lazy
            }
        case .tokens(let tokens):
            applyTokens(tokens)
        case .surveyed(let density, let shape, let used):
            guard var survey = model else { return }
            survey.density = density
            survey.block = shape
            survey.settings = used
            survey.recall = Array(repeating: nil, count: density.count)
            survey.working = nil
            model = survey
            lastSurvey = survey
        case .surveyedRecall(let pair, let figures, let problem, let shape, let used):
            applyModelRecall(pair: pair, figures, problem: problem, block: shape, settings: used)
        case .saved(let names, let directory):
            message = .info("wrote \(names.joined(separator: ", ")) to \(directory)")
        case .failed(let text):
            requestedBlock = block
            message = .error(text)
        case .cancelled:
            requestedBlock = block
        case .attention, .recut, .prefetched, .teaching, .wroteFigure, .listed:
            break  // never on the map lane (`finish` routes by lane)
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
            if outcome.isLoaded { message = failure }
        } else if outcome.isLoaded {
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
}
