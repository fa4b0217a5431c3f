import NablaCore

/// What the block map draws apart from the pooled map's cells (issue 18): partial edge
/// blocks, marked on the ruler (key blocks) and the gutter (query blocks), and the joint
/// text tokens, a band of their own under the map (the cut never touches them).
extension Renderer {
    /// The ruler mark over partial edge key blocks.
    var edgeColumnMark: Character { g.unicode ? "┄" : ":" }
    /// The gutter mark beside partial edge query blocks.
    var edgeRowMark: Character { g.unicode ? "┆" : ":" }

    /// Whether `blocks` (one pixel's blocks) are all partial edge blocks of `grid`.
    static func allPartial(_ blocks: Range<Int>, of grid: BlockGrid) -> Bool {
        !blocks.isEmpty && blocks.allSatisfy { grid.tokens(inBlock: $0) < grid.block.tokens }
    }

    /// The legend's note on the edge marks, when the map has partial edge blocks.
    var edgeLegendText: String? {
        guard let blocks = state.cut.map?.blocks, !blocks.isUniform else { return nil }
        return "\(edgeColumnMark)\(edgeRowMark) partial edge blocks"
    }

    /// Marks, on the ruler and the gutter, the pixel columns and rows whose blocks are all
    /// partial edge blocks; frame ticks and cursor marks are left as they are.
    mutating func drawEdgeMarks(blocks: BlockGrid, view: Viewport) {
        guard !blocks.isUniform else { return }
        let l = layout, cx = theme.cellsPerPixel, pr = l.pixelRowsPerCell
        for p in 0..<min(view.drawnWidth, l.ruler.width / cx) {
            let x = l.ruler.x + p * cx
            guard Self.allPartial(view.blocks(pixel: p, from: view.origin.key), of: blocks),
                  screen[x, l.ruler.y].character == g.horizontal else { continue }
            screen.set(x, l.ruler.y, Cell(edgeColumnMark, mutedStyle))
        }
        let x = l.gutter.x + 3
        for row in 0..<l.gutter.height where row * pr < view.drawnHeight {
            let pixels = (row * pr)..<min(row * pr + pr, view.drawnHeight)
            guard pixels.allSatisfy({ Self.allPartial(view.blocks(pixel: $0, from: view.origin.query), of: blocks) }),
                  screen[x, l.gutter.y + row].character == g.vertical else { continue }
            screen.set(x, l.gutter.y + row, Cell(edgeRowMark, mutedStyle))
        }
    }

    /// The text band in `row`: the joint text tokens, drawn apart from the video map as a
    /// bar of kept colour as long as the text blocks' share of the joint blocks, with
    /// their count and place; nothing without text.
    mutating func drawTextBand(row: Int) {
        guard let text = state.input?.text?.tokens, let blocks = state.cut.map?.blocks else { return }
        let joint = JointSequence(video: blocks, text: text)
        let rect = Rect(x: layout.mapArea.x, y: row, width: layout.mapArea.width, height: 1)
        let bar = max(1, min(rect.width / 4, rect.width * joint.textBlocks / max(joint.count, 1)))
        let cell = theme.mode.hasColor ? Cell(" ", foreground: .normal, background: .kept(UInt8(Theme.rampLevels - 1)))
            : Cell(g.keptShades.last!, Style(.normal, .normal, .bold))
        for i in 0..<bar { screen.set(rect.x + i, rect.y, cell) }
        let label = " text \(text) · \(joint.textBlocks) block(s) \(text.place == .start ? "first" : "last") · never cut"
        screen.put(label, in: Rect(x: rect.x + bar, y: rect.y, width: max(rect.width - bar, 0), height: 1),
                   style: mutedStyle, ellipsis: g.ellipsis)
    }
}
