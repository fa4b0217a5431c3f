import NablaCore

/// The first effects of a new app: load the configured input for the screen `size`.
public func start(_ state: inout AppState, size: Size) -> [Effect] {
    state.size = size
    return state.startLoad(state.initialRequest, label: state.inputName)
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
    case .jobFinished(let lane, let generation, let outcome):
        guard state.finish(outcome, lane: lane, generation: generation) else { return [] }
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
    return effects + ahead + cut + state.refreshTokens() + state.refreshModelRecall() + state.refreshAttention() + state.requestTeachingWork()
}
