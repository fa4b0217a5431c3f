import NablaCore

extension AppState {
    /// `:edge crop|pad`: what to do with a grid the block does not divide; the map is
    /// computed again when that changes anything, and the status line says which.
    mutating func setEdge(_ mode: EdgeMode) -> [Effect] {
        if input == nil, lazyInput != nil { return waitForTokens(":edge") }
        guard var changed = input else {
            message = .error("nothing is loaded")
            return []
        }
        let shape = requestedBlock
        if shape.divides(changed.grid) {
            changed.edge = mode
            input = changed
            message = .info("edge \(mode) has no effect: block \(shape) divides grid \(changed.grid)")
            return []
        }
        changed.edge = mode
        do {
            let blocks = try changed.blockGrid(shape)
            input = changed
            message = blocks.edgeText.map(Message.info)
            return startCompute(shape)
        } catch {
            message = .error(error.shownText)
            return []
        }
    }
}
