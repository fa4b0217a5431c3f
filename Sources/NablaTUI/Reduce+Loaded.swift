import NablaCore

extension AppState {
    /// Puts a newly loaded input on screen: `place` stores it (the whole input, or the
    /// map-only `LazyInput` of the pooled pass), then the map, the head (by tensor index:
    /// the one on screen, or at the first load the one asked for at start, else the
    /// input's first), the pair and the cursor follow. `headIndices` and `name` are the
    /// new input's.
    mutating func applyLoaded(_ headIndices: [Int], name: String, map newMap: PooledMap, note: String?,
                              pairs newPairs: DumpPairs?, cut: BlockMask?, place: (inout AppState) -> Void) {
        cursorTokens = nil
        // Moving to another pair of the same dump keeps the cursor and zoom.
        let samePlace = newPairs != nil && pairs?.path == newPairs?.path && map?.n == newMap.n
        let first = !hasInput
        let asked = first && initialHead != nil
        let wanted = first ? (initialHead ?? headIndices.first ?? 0) : headIndex
        initialHead = nil
        place(&self)
        inputName = name
        replaceMap(newMap, cut: cut)
        requestedBlock = newMap.blocks.block
        head = headIndices.firstIndex(of: wanted) ?? currentHead
        if pairs?.path != newPairs?.path { lastSurvey = nil }
        pairs = newPairs
        if !samePlace {
            cursor = BlockPair(query: newMap.n / 2, key: newMap.n / 2)
            zoom = 0
        }
        if let view = viewport { origin = view.centred(on: cursor) }
        message = note.map(Message.info)
        // A head asked for that the input does not have is an error; the head of the
        // previous input missing from a new one is only a notice.
        if !headIndices.contains(wanted) {
            let text = HeadSelection.missing(wanted, headIndices: headIndices) + "; showing head \(headIndex)"
            message = asked ? .error(text) : .info(text)
        }
    }
}
