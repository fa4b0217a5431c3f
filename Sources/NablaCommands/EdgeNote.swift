import NablaCore

/// Says on stderr, once per run, what the edge mode does to `input` with `block`: that
/// `--edge` has no effect on a grid the block divides (it is accepted: scripts may pass it
/// to every input), and, for a command whose report does not carry the `edge` line itself
/// (`reported: false`), what pad or crop did.
func noteEdge(_ input: QKInput, block: BlockShape, given: EdgeMode?, reported: Bool) {
    noteEdge(grid: input.grid, edge: input.edge, block: block, given: given, reported: reported)
}

/// `noteEdge` for an input of grid `grid` read with edge mode `edge`.
func noteEdge(grid: TokenGrid, edge: EdgeMode, block: BlockShape, given: EdgeMode?, reported: Bool) {
    if block.divides(grid) {
        if let given { warn("--edge \(given) has no effect: block \(block) divides grid \(grid)") }
        return
    }
    guard !reported, let blocks = try? BlockGrid(grid: grid, block: block, edge: edge), let text = blocks.edgeText else { return }
    warn(text)
}
