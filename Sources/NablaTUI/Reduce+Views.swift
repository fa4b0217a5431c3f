/// The keys of the open view (model, follow, compare, sweep, methods): each view's `KeyTable` comes
/// before the map's keymap, so what a key does in a view is read off one table, the one
/// the help screen and docs/app.md list.
extension AppState {
    /// Does what the open view's table binds `key` to; `nil` when no view is open or its
    /// table does not name `key` (the map's keymap then decides).
    mutating func viewKey(_ key: Key) -> [Effect]? {
        if model != nil {
            guard let action = Keymap.model.action(for: key) else { return nil }
            return modelKey(action)
        }
        guard map != nil else { return nil }
        switch teaching {
        case .follow?:
            guard let action = Keymap.follow.action(for: key) else { return nil }
            followKey(action)
        case .compare?:
            guard let action = Keymap.compare.action(for: key) else { return nil }
            switch action {
            case .nextPreset: nextComparePreset()
            }
        case .sweep?:
            guard let action = Keymap.sweep.action(for: key) else { return nil }
            switch action {
            case .close: teaching = nil
            }
        case .methods?:
            guard let action = Keymap.methods.action(for: key) else { return nil }
            return methodsAction(action)
        case nil:
            return nil
        }
        return []
    }

    /// The model view's keys: the cell moves (stopping at the edges for the cursor keys,
    /// wrapping for the head and pair keys), opens or closes.
    mutating func modelKey(_ action: ModelAction) -> [Effect] {
        guard var survey = model, let pairs else { return [] }
        let rows = pairs.prefixes.count, columns = max(heads, 1)
        switch action {
        case .open:
            return modelAction(.select) ?? []
        case .close:
            closeModel()
            return []
        case .layer:
            toggleModelLayer()
            return []
        case .move(let dp, let dh):
            survey.pair = clamp(survey.pair + dp, rows)
            survey.head = clamp(survey.head + dh, columns)
        case .head(let d):
            survey.head = ((survey.head + d) % columns + columns) % columns
        case .pair(let d):
            survey.pair = ((survey.pair + d) % rows + rows) % rows
        }
        model = survey
        return []
    }

    /// The follow view's keys: the followed query block (the cursor's query) steps through
    /// the tiles of its frame and through frames, stopping at the edges; or the next stage.
    mutating func followKey(_ action: FollowAction) {
        guard let map else { return }
        let blocks = map.blocks
        var (t, i, j) = blocks.coordinates(of: cursor.query)
        switch action {
        case .tile(let rows, let columns):
            i = min(max(i + rows, 0), blocks.hb - 1)
            j = min(max(j + columns, 0), blocks.wb - 1)
        case .frame(let d):
            t = min(max(t + d, 0), blocks.tb - 1)
        case .nextStage:
            nextStage()
            return
        }
        cursor = BlockPair(query: (t * blocks.hb + i) * blocks.wb + j, key: cursor.key)
    }
}
