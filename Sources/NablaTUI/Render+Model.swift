import NablaCore

extension Renderer {
    /// The model view in place of the map: density as a heatmap over the pairs of a
    /// whole-model dump (rows) and heads (columns, numbered from 0), the selected cell
    /// marked, the open pair's label marked, and a legend with the selected value.
    mutating func drawModel() {
        guard let survey = state.model, let pairs = state.pairs else { return }
        let l = layout
        let heads = survey.density?.first?.count ?? state.heads
        let at = survey.settings.map { "thr \(fixed($0.threshold, 2))\($0.sta.map { " STA \($0)" } ?? "")" } ?? "computing"
        putTitle([" model · \(pairs.prefixes.count) pairs x \(heads) heads · density at \(at) \(survey.block ?? state.block) · <Enter> opens · m or Esc closes",
                  " model · \(pairs.prefixes.count) pairs x \(heads) heads · \(at) · <Enter> opens · Esc closes",
                  " model · \(pairs.prefixes.count) x \(heads) · \(at) · <Enter> opens · Esc closes",
                  " model · \(pairs.prefixes.count) pairs x \(heads) heads · Esc closes",
                  " model · <Enter> opens · Esc closes", " model · Esc closes"], in: l.title)
        let area = l.overviewArea
        guard let density = survey.density else {
            centred(["computing the density of \(pairs.prefixes.count) pairs \(g.spinner[state.spinner % g.spinner.count])"],
                    in: area, style: mutedStyle)
            return
        }
        let geo = ModelGeometry(area: area, prefixes: pairs.prefixes, heads: heads, selected: survey.pair)
        guard geo.visibleRows > 0, geo.cellWidth >= 1 else { return }
        // Header: head numbers where they fit.
        for h in 0..<heads where geo.cellWidth >= 3 || h % 5 == 0 {
            screen.put(String(state.headIndex(h)).leftPadded(to: min(geo.cellWidth, 3) + (geo.cellWidth >= 3 ? (geo.cellWidth - 3) / 2 : 0)),
                       in: Rect(x: geo.x(ofHead: h), y: area.y, width: max(geo.cellWidth, 3), height: 1),
                       style: h == survey.head ? accentStyle : mutedStyle)
        }
        for (p, prefix) in pairs.prefixes.enumerated() {
            guard let y = geo.y(ofPair: p) else { continue }
            let open = p == pairs.index
            let mark = open ? String(g.markRight) : " "
            screen.put(mark + ModelDump.name(ofPrefix: prefix), in: Rect(x: area.x, y: y, width: geo.labelWidth - 1, height: 1),
                       style: p == survey.pair ? accentStyle : (open ? titleStyle : Style(.normal)), ellipsis: g.ellipsis)
            for h in 0..<min(heads, density[p].count) {
                drawModelCell(density[p][h], x: geo.x(ofHead: h), y: y, width: geo.cellWidth,
                              selected: p == survey.pair && h == survey.head)
            }
        }
        // The keys, under the last row when there is room.
        let below = area.y + 1 + min(geo.visibleRows, pairs.prefixes.count) + 1
        if below < area.maxY {
            screen.put("arrows move the selection", in: Rect(x: area.x + 1, y: below, width: area.width - 1, height: 1),
                       style: mutedStyle, ellipsis: g.ellipsis)
        }
        drawModelLegend(survey: survey, pairs: pairs, density: density)
    }

    /// One cell: the density's colour (a shade in monochrome) with its percentage when
    /// the cell is wide enough.
    private mutating func drawModelCell(_ d: Double, x: Int, y: Int, width: Int, selected: Bool) {
        let level = Theme.rampLevel(d)
        let text = width >= 5 ? String(Int((d * 100).rounded())).leftPadded(to: width - 2) + "%" : ""
        var chars = Array(text.padding(toLength: width, withPad: " ", startingAt: 0))
        let attributes: CellAttributes = selected ? [.bold, .reverse] : []
        if theme.mode.hasColor {
            let ink: ColorRole = Int(level) >= Theme.rampLevels / 2 ? .ink : .normal
            for i in 0..<width {
                screen.set(x + i, y, Cell(chars[i], foreground: ink, background: .kept(level), attributes: attributes))
            }
        } else {
            let shades = g.shareShades
            let shade = shades[min(shades.count - 1, Int(d * Double(shades.count - 1) + 0.5))]
            if text.isEmpty { chars = Array(repeating: shade, count: width) }
            for i in 0..<width {
                let c = chars[i] == " " ? shade : chars[i]
                screen.set(x + i, y, Cell(c, Style(.normal, .normal, selected ? [.bold, .reverse] : (chars[i] == " " ? [] : .bold))))
            }
        }
        if selected && width >= 3 {
            screen.set(x, y, Cell("[", foreground: .accent, background: theme.mode.hasColor ? .kept(level) : .normal, attributes: .bold))
            screen.set(x + width - 1, y, Cell("]", foreground: .accent, background: theme.mode.hasColor ? .kept(level) : .normal, attributes: .bold))
        }
    }

    private mutating func drawModelLegend(survey: ModelSurvey, pairs: DumpPairs, density: [[Double]]) {
        let rect = layout.legend
        var x = rect.x + 1
        x = screen.put("density 0 ", x: x, y: rect.y, style: mutedStyle, clip: rect)
        for i in 0..<8 {
            let level = UInt8(i * Theme.rampLevels / 8 + 2)
            let cell = theme.mode.hasColor ? Cell(" ", foreground: .normal, background: .kept(level))
                : Cell(g.shareShades[min(g.shareShades.count - 1, i * g.shareShades.count / 8)], .plain)
            if x < rect.maxX { screen.set(x, rect.y, cell) }
            x += 1
        }
        x = screen.put(" 1", x: x, y: rect.y, style: mutedStyle, clip: rect)
        let p = survey.pair, h = survey.head
        guard p < density.count, h < density[p].count else { return }
        let name = ModelDump.name(ofPrefix: pairs.prefixes[p])
        _ = screen.put("  \(percent(density[p][h])) \(name) head \(state.headIndex(h))", x: x, y: rect.y, style: titleStyle, clip: rect)
    }
}
