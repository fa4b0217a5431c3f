import Foundation
import NablaCore

/// One pixel of the compare overlay: outside the map, or the blocks' `OverlayKind`.
enum OverlayPixel: Equatable {
    case none, neither, onlyA, onlyB, both, mixed

    init(_ kind: OverlayKind) {
        switch kind {
        case .neither: self = .neither
        case .onlyA: self = .onlyA
        case .onlyB: self = .onlyB
        case .both: self = .both
        case .mixed: self = .mixed
        }
    }
}

extension Renderer {
    /// The teaching view in place of the map panel and the side column.
    mutating func drawTeaching(_ view: TeachingView) {
        switch view {
        case .compare(let c): drawCompare(c)
        case .follow(let f): drawFollow(f)
        case .sweep(let s): drawSweep(s)
        case .methods(let m): drawMethods(m)
        }
    }

    /// Draws a grid of `width x height` pixels (row-major `roles` and `monos`) into
    /// `area`, two pixels per cell with half blocks in colour, else one pixel per
    /// `cellsPerPixel` cells. `roles` colour the pixels; `monos` draw them without colour.
    mutating func drawRolePixels(width: Int, height: Int, in area: Rect, roles: [ColorRole], monos: [Cell]) {
        func role(_ x: Int, _ y: Int) -> ColorRole { roles[y * width + x] }
        func mono(_ x: Int, _ y: Int) -> Cell { monos[y * width + x] }
        let pr = theme.pixelRowsPerCell, cx = theme.cellsPerPixel
        for row in 0..<min(area.height, (height + pr - 1) / pr) {
            for x in 0..<min(area.width / cx, width) {
                let y0 = row * pr
                let cell: Cell
                if theme.halfBlockPixels {
                    cell = Cell(g.upperHalf, foreground: role(x, y0), background: y0 + 1 < height ? role(x, y0 + 1) : .normal)
                } else if theme.mode.hasColor {
                    cell = Cell(" ", foreground: .normal, background: role(x, y0))
                } else {
                    cell = mono(x, y0)
                }
                for i in 0..<cx { screen.set(area.x + x * cx + i, area.y + row, cell) }
            }
        }
    }

    func overlayRole(_ p: OverlayPixel) -> ColorRole {
        switch p {
        case .none: .normal
        case .neither: .dropped(0)
        case .onlyA: .onlyA
        case .onlyB: .onlyB
        case .both: .both
        case .mixed: .mixed
        }
    }

    func overlayMono(_ p: OverlayPixel) -> Cell {
        switch p {
        case .none, .neither: .blank
        case .onlyA: Cell("a", Style(.normal, .normal, .bold))
        case .onlyB: Cell("b", Style(.normal, .normal, .bold))
        case .both: Cell(g.full, Style(.normal, .normal, .bold))
        case .mixed: Cell("+", Style(.normal, .normal, .bold))
        }
    }

    /// The compare view: the block map's frame (rulers, cursor) with A and B overlaid in
    /// three colours, and the comparison's figures in the side column.
    mutating func drawCompare(_ view: CompareView) {
        drawMapPanel()
        let l = layout
        guard state.map != nil, let vp = state.viewport else { return }
        let head = state.currentHead
        let c = view.comparison
        var title = " compare · head \(state.headIndex(head))"
        if let c { title += " · Jaccard " + fixed(c.jaccard(head: head), 3) }
        title += " · A current vs B \(view.spec)"
        screen.fill(l.title)
        screen.put(title, in: l.title, style: titleStyle, ellipsis: g.ellipsis)
        if let c {
            // Pixel (x, y): the blocks it covers, drawn by `OverlayKind`'s rule (the kind
            // holding more than half of the kept blocks, else mixed), as the figure is.
            let w = vp.drawnWidth, h = vp.drawnHeight
            var pixels = [OverlayPixel](repeating: .none, count: w * h)
            let cols = (0..<w).map { vp.blocks(pixel: $0, from: vp.origin.key) }
            for y in 0..<h {
                let rows = vp.blocks(pixel: y, from: vp.origin.query)
                for x in 0..<w where !rows.isEmpty && !cols[x].isEmpty {
                    pixels[y * w + x] = OverlayPixel(OverlayKind(c, head: head, queries: rows, keys: cols[x]))
                }
            }
            let cx = vp.pixelColumn(key: state.cursor.key), cy = vp.pixelRow(query: state.cursor.query)
            var roles = pixels.map(overlayRole), monos = pixels.map(overlayMono)
            if let cx, let cy, cx < w, cy < h {
                roles[cy * w + cx] = .cursor
                monos[cy * w + cx] = Cell(g.cursorPixel, Style(.normal, .normal, [.bold, .reverse]))
            }
            drawRolePixels(width: w, height: h, in: l.mapArea, roles: roles, monos: monos)
            let pr = l.pixelRowsPerCell
            drawOverlayLegend(row: min(l.mapArea.y + (h + pr - 1) / pr, l.legend.y))
        } else {
            screen.fill(l.mapArea)
            if let problem = view.problem {
                centred(Renderer.wrap(problem, width: max(l.mapArea.width - 2, 1)), in: l.mapArea, style: Style(.error))
            } else {
                centred(["computing B and the comparison…"], in: l.mapArea, style: accentStyle)
            }
        }
        drawCompareSide(view)
    }

    /// `only A ██  only B ██  both ██  neither: blank` under the overlay.
    mutating func drawOverlayLegend(row: Int) {
        let rect = Rect(x: layout.legend.x, y: row, width: layout.legend.width, height: 1)
        screen.fill(rect)
        var x = rect.x + 1
        // "mixed" only where a pixel covers several blocks (zoomed out).
        let mixed = (state.viewport?.blocksPerPixel ?? 1) > 1
        for (label, p) in [("only A ", OverlayPixel.onlyA), ("  only B ", .onlyB), ("  both ", .both)] + (mixed ? [("  mixed ", .mixed)] : []) {
            x = screen.put(label, x: x, y: rect.y, style: mutedStyle, clip: rect)
            let cell = theme.mode.hasColor
                ? (theme.halfBlockPixels ? Cell(g.full, foreground: overlayRole(p), background: .normal)
                    : Cell(" ", foreground: .normal, background: overlayRole(p)))
                : overlayMono(p)
            for _ in 0..<2 where x < rect.maxX {
                screen.set(x, rect.y, cell)
                x += 1
            }
        }
        screen.put("  neither: " + (theme.mode.hasColor ? "dark" : "blank"), x: x, y: rect.y, style: mutedStyle, clip: rect)
    }

    /// The kernel figures of the current head: each mask's recall of the true attention
    /// and (with V) its output error against dense, or that they are computing.
    func compareFigureLines(_ view: CompareView, head: Int) -> [(String, Style)] {
        guard let (q, h) = view.figures, h == head else {
            if let problem = view.figuresProblem { return [("recall, error: " + problem, Style(.error))] }
            return [("recall, error of head \(state.headIndex(head)): computing…", accentStyle)]
        }
        let error: String
        if let e = q.error {
            error = "error  A \(String(format: "%.2e", e[0].overall))  B \(String(format: "%.2e", e[1].overall))  (vs dense)"
        } else {
            error = "error: no V (the output error needs V)"
        }
        return [("recall A \(fixed(q.recall[0][0], 3))  B \(fixed(q.recall[1][0], 3))  (true attention)", Style(.title, .normal, .bold)),
                (error, q.error == nil ? mutedStyle : .plain)]
    }

    /// The comparison's figures: each mask and its density, the Jaccard and the shares of
    /// block pairs only one keeps, for the current head and all heads, each mask's recall
    /// and error for the current head, then every head's densities and Jaccard.
    mutating func drawCompareSide(_ view: CompareView) {
        let side = layout.side
        guard !side.isEmpty else { return }
        screen.fill(side)
        let rect = Rect(x: side.x + 1, y: side.y, width: max(side.width - 1, 0), height: side.height)
        heading("compare masks", in: rect)
        guard state.map != nil, let c = view.comparison else {
            screen.put("c: next B · :compare SPEC · Esc back", in: rect, row: 1, style: mutedStyle, ellipsis: g.ellipsis)
            return
        }
        let head = state.currentHead
        let da = c.a.density, db = c.b.density
        let pairs = Double(c.a.blocks.grid.tokens * c.a.blocks.grid.tokens)
        var lines: [(String, Style)] = [
            ("A  " + c.a.spec.description, Style(.onlyA, .normal, .bold)),
            ("B  " + view.spec.description, Style(.onlyB, .normal, .bold)),
            ("head \(state.headIndex(head))    A \(percent(da[head]))   B \(percent(db[head]))", .plain),
            ("Jaccard \(fixed(c.jaccard(head: head), 3))   all heads \(fixed(c.jaccard, 3))", Style(.title, .normal, .bold)),
            ("only A \(percent(Double(c.onlyA[head]) / pairs))  only B \(percent(Double(c.onlyB[head]) / pairs))", .plain),
            ("both   \(percent(Double(c.both[head]) / pairs))  (shares of all block pairs)", .plain),
        ]
        lines += compareFigureLines(view, head: head)
        lines.append(("c: next B · :compare SPEC · :plot F.svg · Esc back", mutedStyle))
        lines.append(("head  dens A  dens B  Jaccard", mutedStyle))
        for h in 0..<c.heads {
            let text = String(state.headIndex(h)).leftPadded(to: 4) + percent(da[h]).leftPadded(to: 8) + percent(db[h]).leftPadded(to: 8)
                + fixed(c.jaccard(head: h), 3).leftPadded(to: 9)
            lines.append((text, h == head ? accentStyle : .plain))
        }
        for (i, line) in lines.enumerated() where i + 1 < rect.height {
            screen.put(line.0, in: rect, row: i + 1, style: line.1, ellipsis: g.ellipsis)
        }
    }
}
