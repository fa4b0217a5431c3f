import Foundation
import NablaCore

/// One pixel of a block map.
enum Pixel: Equatable {
    case none
    /// One block: `t` its probability on the log scale in `[0, 1]`, and whether it is kept.
    case block(t: Double, kept: Bool)
    /// Several blocks: the share of them kept.
    case pooled(share: Double)
}

/// The pixels a viewport shows of one head, row-major, `drawnHeight x drawnWidth`.
struct PixelGrid {
    let width: Int
    let height: Int
    let pixels: [Pixel]

    subscript(x: Int, y: Int) -> Pixel {
        x >= 0 && y >= 0 && x < width && y < height ? pixels[y * width + x] : .none
    }

    /// `log10 P` mapped to `[0, 1]` from `log10(1/N) - 2` (a hundredth of uniform) to 0.
    static func logFloor(n: Int) -> Double { log10(1 / Double(max(n, 1))) - 2 }

    /// - Complexity: O(visible blocks / 8) for pooled views (kept flags are summed eight
    ///   at a time), O(pixels) otherwise.
    /// `trueMass`: colour by the head's true block mass (slot 0) instead of the pooled map.
    /// `mask` is the head's mask as shown (`AppState.headMask`).
    init(map: PooledMap, mask: HeadMask, head: Int, view: Viewport, trueMass: TrueBlockMass? = nil) {
        let n = map.n
        let w = view.drawnWidth, h = view.drawnHeight
        width = w
        height = h
        let lo = PixelGrid.logFloor(n: n)
        let colRanges = (0..<w).map { view.blocks(pixel: $0, from: view.origin.key) }
        var out = [Pixel](repeating: .none, count: w * h)
        var counts = [Int](repeating: 0, count: w)
        (trueMass?.mass ?? map.probs).withUnsafeBufferPointer { probs in
            mask.mask.kept.withUnsafeBufferPointer { kept in
                let p = probs.baseAddress! + (trueMass == nil ? head * n * n : 0)
                let k = UnsafeRawPointer(kept.baseAddress! + mask.index * n * n)
                for py in 0..<h {
                    let rows = view.blocks(pixel: py, from: view.origin.query)
                    if view.blocksPerPixel == 1 {
                        let a = rows.lowerBound
                        for px in 0..<w {
                            let i = a * n + colRanges[px].lowerBound
                            let v = p[i]
                            let t = v > 0 ? min(max((log10(v) - lo) / -lo, 0), 1) : 0
                            out[py * w + px] = .block(t: t, kept: k.load(fromByteOffset: i, as: UInt8.self) != 0)
                        }
                        continue
                    }
                    for px in 0..<w { counts[px] = 0 }
                    for a in rows {
                        let row = k + a * n
                        for px in 0..<w {
                            counts[px] &+= PixelGrid.keptCount(row, colRanges[px])
                        }
                    }
                    for px in 0..<w where !colRanges[px].isEmpty {
                        out[py * w + px] = .pooled(share: Double(counts[px]) / Double(rows.count * colRanges[px].count))
                    }
                }
            }
        }
        pixels = out
    }

    /// The number of kept flags (bytes 0 or 1) in `row[range]`, eight at a time: the
    /// product with 0x0101...01 sums a word's bytes into its top byte.
    @inline(__always)
    static func keptCount(_ row: UnsafeRawPointer, _ range: Range<Int>) -> Int {
        var i = range.lowerBound
        var total = 0
        while i + 8 <= range.upperBound {
            let word = row.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if word != 0 { total &+= Int(truncatingIfNeeded: (word &* 0x0101_0101_0101_0101) >> 56) }
            i += 8
        }
        while i < range.upperBound {
            total &+= Int(row.load(fromByteOffset: i, as: UInt8.self))
            i += 1
        }
        return total
    }
}

extension Renderer {
    /// The colour of a pixel: kept blocks on the viridis ramp by log probability (pooled
    /// cells by share kept), dropped ones on the dim grey ramp.
    func role(_ p: Pixel) -> ColorRole {
        switch p {
        case .none: .normal
        case .block(let t, let kept): kept ? .kept(Theme.rampLevel(t)) : .dropped(Theme.droppedLevel(t))
        case .pooled(let share): share > 0 ? .kept(Theme.rampLevel(share)) : .dropped(0)
        }
    }

    /// The monochrome cell of a pixel: shades by probability (or share kept), kept bold.
    func monoCell(_ p: Pixel) -> Cell {
        switch p {
        case .none:
            return .blank
        case .block(let t, let kept):
            if kept { return Cell(g.keptShades[min(2, Int(t * 3))], Style(.normal, .normal, .bold)) }
            return Cell(g.droppedShades[t >= 0.5 ? 1 : 0], Style(.normal, .normal, .dim))
        case .pooled(let share):
            if share <= 0 { return .blank }
            return Cell(g.shareShades[1 + min(3, Int(share * 4 - 1e-9))], Style(.normal, .normal, .bold))
        }
    }

    /// Draws `grid` into `area`, `pixelRowsPerCell` pixels per row; `cursor` is the
    /// pixel to mark, if any.
    mutating func drawPixels(_ grid: PixelGrid, in area: Rect, cursor: (x: Int, y: Int)? = nil) {
        let pr = theme.pixelRowsPerCell, cx = theme.cellsPerPixel
        for row in 0..<min(area.height, (grid.height + pr - 1) / pr) {
            for x in 0..<min(area.width / cx, grid.width) {
                let y0 = row * pr
                let cell: Cell
                if theme.halfBlockPixels {
                    var top = role(grid[x, y0])
                    var bottom = y0 + 1 < grid.height ? role(grid[x, y0 + 1]) : .normal
                    if let c = cursor, c.x == x {
                        if c.y == y0 { top = .cursor }
                        if c.y == y0 + 1 { bottom = .cursor }
                    }
                    cell = Cell(g.upperHalf, foreground: top, background: bottom)
                } else if theme.mode.hasColor {
                    if let c = cursor, c.x == x, c.y == y0 {
                        cell = Cell(g.cursorPixel, foreground: .title, background: .cursor, attributes: .bold)
                    } else {
                        cell = Cell(" ", foreground: .normal, background: role(grid[x, y0]))
                    }
                } else {
                    if let c = cursor, c.x == x, c.y == y0 {
                        cell = Cell(g.cursorPixel, Style(.normal, .normal, [.bold, .reverse]))
                    } else {
                        cell = monoCell(grid[x, y0])
                    }
                }
                for i in 0..<cx { screen.set(area.x + x * cx + i, area.y + row, cell) }
            }
        }
    }

    /// The frame slab that starts inside pixel `p` along an axis, if one does.
    func slabStart(pixel p: Int, from start: Int, view: Viewport, perSlab: Int) -> Int? {
        let blocks = view.blocks(pixel: p, from: start)
        guard !blocks.isEmpty else { return nil }
        if view.pixelsPerBlock > 1 {
            guard p % view.pixelsPerBlock == 0, blocks.lowerBound % perSlab == 0 else { return nil }
            return blocks.lowerBound / perSlab
        }
        let first = (blocks.lowerBound + perSlab - 1) / perSlab * perSlab
        return first < blocks.upperBound ? first / perSlab : nil
    }

    mutating func drawMapPanel() {
        let l = layout
        guard let map = state.map, let mask = state.headMask(state.currentHead), let view = state.viewport else {
            let text: [String]
            if let job = state.job {
                text = [job.label + " " + String(g.spinner[state.spinner % g.spinner.count])]
                    + (job.progress.map { [$0.text] } ?? []) + (job.isCancellable ? ["Esc cancels"] : [])
            } else {
                text = ["nothing loaded", "open inputs with :open PATH…  ·  q quits"]
            }
            heading(state.inputName, in: l.title)
            centred(text, in: l.mapArea, style: accentStyle)
            return
        }
        let head = state.currentHead
        let perSlab = map.blocks.blocksPerSlab
        let rows = view.visibleRows, cols = view.visibleColumns
        let position = "q \(view.origin.query)–\(view.origin.query + rows - 1) k \(view.origin.key)–\(view.origin.key + cols - 1)"
        let shown = !state.showTrueMass ? "" : state.attention?.mass != nil ? "true mass · " : "true mass … · "
        let title = "head \(state.headLabel) · \(shown)\(percent(mask.density)) kept · "
            + "\(view.scaleText) · \(position)"
        screen.put(" " + title, in: l.title, style: titleStyle, ellipsis: g.ellipsis)

        // Corner: rows are query blocks, columns key blocks.
        screen.put(" q\\k", in: Rect(x: l.mapPanel.x, y: l.ruler.y, width: ScreenLayout.gutterWidth, height: 1), style: mutedStyle)

        let cursorX = view.pixelColumn(key: state.cursor.key)
        let cursorY = view.pixelRow(query: state.cursor.query)

        // Top ruler: key frame boundaries, their numbers where they fit, the cursor column.
        let cx = theme.cellsPerPixel
        let rulerEnd = min(view.drawnWidth * cx, l.ruler.width)
        var ticks: [(x: Int, slab: Int)] = []
        screen.fill(Rect(x: l.ruler.x, y: l.ruler.y, width: rulerEnd, height: 1), with: Cell(g.horizontal, mutedStyle))
        for p in 0..<min(view.drawnWidth, l.ruler.width / cx) {
            if let s = slabStart(pixel: p, from: view.origin.key, view: view, perSlab: perSlab) {
                ticks.append((p * cx, s))
                screen.set(l.ruler.x + p * cx, l.ruler.y, Cell(g.tickDown, mutedStyle))
            }
        }
        // A frame number the cursor's marker would cut into is left out rather than misread
        // ("┬▼0┬11" would read as frame 0); the side panel names the cursor's frame.
        let markerX = cursorX.map { $0 * cx }
        for (i, tick) in ticks.enumerated() {
            let label = String(tick.slab)
            let next = i + 1 < ticks.count ? ticks[i + 1].x : rulerEnd
            let covered = markerX.map { (tick.x + 1)...(tick.x + label.count) ~= $0 } ?? false
            if tick.x + label.count < next && !covered {
                screen.put(label, x: l.ruler.x + tick.x + 1, y: l.ruler.y, style: mutedStyle, clip: l.ruler)
            }
        }
        if let x = cursorX, x * cx < l.ruler.width {
            screen.set(l.ruler.x + x * cx, l.ruler.y, Cell(g.markDown, accentStyle))
        }

        // Left gutter: query frame boundaries and the cursor row.
        let pr = layout.pixelRowsPerCell
        for row in 0..<l.gutter.height {
            let y = l.gutter.y + row
            guard row * pr < view.drawnHeight else { break }
            var slab: Int?
            for p in (row * pr)..<min(row * pr + pr, view.drawnHeight) where slab == nil {
                slab = slabStart(pixel: p, from: view.origin.query, view: view, perSlab: perSlab)
            }
            if let slab {
                screen.put(String(slab).leftPadded(to: 3), in: Rect(x: l.gutter.x, y: y, width: 3, height: 1), style: mutedStyle)
                screen.set(l.gutter.x + 3, y, Cell(g.tickLeft, mutedStyle))
            } else {
                screen.set(l.gutter.x + 3, y, Cell(g.vertical, mutedStyle))
            }
            if let cy = cursorY, cy / pr == row {
                screen.set(l.gutter.x + 3, y, Cell(g.markRight, accentStyle))
            }
        }

        let trueMass = state.showTrueMass ? state.attention.flatMap { $0.head == head ? $0.shownMass : nil } : nil
        let grid = PixelGrid(map: map, mask: mask, head: head, view: view, trueMass: trueMass)
        let cursor = cursorX.flatMap { x in cursorY.map { (x: x, y: $0) } }
        drawPixels(grid, in: l.mapArea, cursor: cursor)
        drawEdgeMarks(blocks: map.blocks, view: view)
        let below = l.mapArea.y + (view.drawnHeight + pr - 1) / pr
        if l.textBand.height > 0 { drawTextBand(row: min(below, l.textBand.y)) }
        drawLegend(pooled: view.blocksPerPixel > 1, n: map.n, row: min(below + l.textBand.height, l.legend.y))
    }

    /// The colour key under the map.
    mutating func drawLegend(pooled: Bool, n: Int, row: Int? = nil) {
        let rect = Rect(x: layout.legend.x, y: row ?? layout.legend.y, width: layout.legend.width, height: 1)
        var x = rect.x + 1
        func text(_ s: String, _ style: Style = Style(.muted)) {
            x = screen.put(s, x: x, y: rect.y, style: style, clip: rect)
        }
        func swatch(_ roles: [ColorRole]) {
            for r in roles {
                let cell = theme.halfBlockPixels ? Cell(g.full, foreground: r, background: .normal)
                    : Cell(" ", foreground: .normal, background: r)
                if x < rect.maxX { screen.set(x, rect.y, cell) }
                x += 1
            }
        }
        let keptRamp = (0..<8).map { ColorRole.kept(UInt8($0 * Theme.rampLevels / 8 + 2)) }
        let greyRamp = (0..<4).map { ColorRole.dropped(UInt8($0 * Theme.droppedLevels / 4 + 1)) }
        let floor = fixed(PixelGrid.logFloor(n: n), 1)
        switch (theme.mode.hasColor, pooled) {
        case (true, false):
            text("kept: log10 P \(floor) ")
            swatch(keptRamp)
            text(" 0  dropped: ")
            swatch(greyRamp)
        case (true, true):
            text("share kept per pixel 0 ")
            swatch(keptRamp)
            text(" 1  none kept: ")
            swatch([.dropped(0)])
        case (false, false):
            text("kept " + String(g.keptShades) + " by log10 P (\(floor) to 0)  dropped " + String(g.droppedShades.last!) + "/blank  cursor " + String(g.cursorPixel))
        case (false, true):
            text("share kept per pixel " + String(g.shareShades.dropFirst()) + " (0 to 1)  none kept: blank")
        }
        if let edge = edgeLegendText { text("  " + edge) }
    }

    /// Small maps of every head with their densities, in place of the block map.
    mutating func drawOverview() {
        guard let map = state.map else { return }
        let l = layout
        putTitle([" heads overview · \(map.heads) heads · \(map.blocks.block) N \(map.n) · [ ] or click selects · o or Esc closes",
                  " heads overview · \(map.heads) heads · [ ] or click selects · Esc closes",
                  " heads overview · [ ] selects · Esc closes", " heads · Esc closes"], in: l.title)
        let thumbs = ScreenLayout.thumbnails(heads: map.heads, in: l.overviewArea, pixelRowsPerCell: l.pixelRowsPerCell,
                                             cellsPerPixel: l.cellsPerPixel)
        guard !thumbs.isEmpty else {
            centred(["enlarge the terminal for the overview"], in: l.overviewArea, style: mutedStyle)
            return
        }
        var pooled = false
        for (h, thumb) in thumbs.enumerated() {
            // A head whose re-cut is pending shows its previous mask, marked, or nothing.
            let mask = state.headMask(h)
            let label = "h\(state.headIndex(h)) " + (mask.map { percent($0.density) + ($0.isCurrent ? "" : " \(g.ellipsis)") } ?? String(g.ellipsis))
            let current = h == state.head
            screen.put(label, in: thumb.label,
                       style: current ? Style(.accent, .normal, [.bold, .reverse]) : titleStyle, ellipsis: g.ellipsis)
            let view = Viewport(n: map.n, pixelsWide: thumb.pixels.width / l.cellsPerPixel,
                                pixelsTall: thumb.pixels.height * l.pixelRowsPerCell, zoom: 0)
            pooled = view.blocksPerPixel > 1
            if let mask { drawPixels(PixelGrid(map: map, mask: mask, head: h, view: view), in: thumb.pixels) }
        }
        drawLegend(pooled: pooled, n: map.n)
    }
}
