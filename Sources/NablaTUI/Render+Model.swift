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
        let recallLayer = survey.layer == .recall
        let (what, other) = recallLayer ? ("recall", "density") : ("density", "recall")
        putTitle([" model · \(pairs.prefixes.count) pairs x \(heads) heads · \(what) at \(at) \(survey.block ?? state.block) · r \(other) · <Enter> opens · m or Esc closes",
                  " model · \(pairs.prefixes.count) pairs x \(heads) heads · \(what) at \(at) \(survey.block ?? state.block) · <Enter> opens · m or Esc closes",
                  " model · \(pairs.prefixes.count) pairs x \(heads) heads · \(recallLayer ? "recall at " : "")\(at) · <Enter> opens · Esc closes",
                  " model · \(pairs.prefixes.count) x \(heads) · \(recallLayer ? "recall at " : "")\(at) · <Enter> opens · Esc closes"]
                 + (recallLayer ? [" model · recall at \(at) · <Enter> opens · Esc closes", " model · recall · Esc closes"]
                    : [" model · \(pairs.prefixes.count) pairs x \(heads) heads · Esc closes",
                       " model · <Enter> opens · Esc closes", " model · Esc closes"]), in: l.title)
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
                let selected = p == survey.pair && h == survey.head
                if !recallLayer {
                    drawModelCell(density[p][h], x: geo.x(ofHead: h), y: y, width: geo.cellWidth, selected: selected)
                } else if let r = survey.recallValue(pair: p, head: h) {
                    drawModelCell(r.value, estimated: r.estimated, x: geo.x(ofHead: h), y: y, width: geo.cellWidth, selected: selected)
                } else {
                    // Not computed yet: a dot where the number will be.
                    let w = geo.cellWidth
                    let dot = String(repeating: " ", count: max(w - 2, 0)) + (g.unicode ? "·" : ".") + (w >= 2 ? " " : "")
                    screen.put(dot, in: Rect(x: geo.x(ofHead: h), y: y, width: geo.cellWidth, height: 1),
                               style: selected ? Style(.accent, .normal, [.bold, .reverse]) : mutedStyle)
                }
            }
        }
        // The keys and how far the recall is, under the last row when there is room.
        var below = area.y + 1 + min(geo.visibleRows, pairs.prefixes.count) + 1
        if below < area.maxY {
            screen.put("arrows move the selection · r shows \(other)", in: Rect(x: area.x + 1, y: below, width: area.width - 1, height: 1),
                       style: mutedStyle, ellipsis: g.ellipsis)
            below += 1
        }
        if recallLayer {
            for (i, line) in modelRecallLines(survey, pairs: pairs, density: density).enumerated() where below + i < area.maxY {
                screen.put(line, in: Rect(x: area.x + 1, y: below + i, width: area.width - 1, height: 1),
                           style: i == 0 && survey.recallProblem != nil ? Style(.error) : mutedStyle, ellipsis: g.ellipsis)
            }
        }
        drawModelLegend(survey: survey, pairs: pairs, density: density)
    }

    /// Under the recall heatmap: how far it is (`recall: 3/8 pairs ~ estimated, 1/8
    /// exact`) or why it stopped, what `~` means, and the selected cell's figures with
    /// their interval and sample.
    private func modelRecallLines(_ survey: ModelSurvey, pairs: DumpPairs, density: [[Double]]) -> [String] {
        let n = pairs.prefixes.count
        let (known, exact) = survey.recallCounts
        let busy = survey.working != nil ? " " + String(g.spinner[state.spinner % g.spinner.count]) : ""
        var lines = [survey.recallProblem.map { "recall stopped: \($0)" }
                     ?? "recall: \(known - exact)/\(n) pairs ~ estimated, \(exact)/\(n) exact" + busy]
        if known > exact {
            lines.append("~ estimate: 95%, mean over heads within +-\(fixed(SweepView.estimateHalfWidth, 2))")
        }
        let p = survey.pair, h = survey.head
        if p < density.count, h < density[p].count {
            var cell = "\(ModelDump.name(ofPrefix: pairs.prefixes[p])) head \(state.headIndex(h)): "
            var sample: String?
            if p < survey.recall.count, let figures = survey.recall[p], h < figures.perHead.count {
                let v = figures.perHead[h]
                cell += figures.sampled == nil ? "recall \(fixed(v.value, 3))" : "recall ~\(recallText(v, digits: 3))"
                sample = figures.sampled.map { "  from \($0) of \(figures.total) query blocks per head" }
            } else {
                cell += "recall not yet computed"
            }
            lines.append(cell + ", density \(percent(density[p][h]))")
            if let sample { lines.append(sample) }
        }
        return lines
    }

    /// One cell: the value's colour (a shade in monochrome) with its percentage when the
    /// cell is wide enough, `~` before an estimate's.
    private mutating func drawModelCell(_ d: Double, estimated: Bool = false, x: Int, y: Int, width: Int, selected: Bool) {
        let level = Theme.rampLevel(d)
        let number = String(Int((d * 100).rounded())) + "%"
        let text = width >= 5 ? ((estimated && width >= number.count + 2 ? "~" : "") + number).leftPadded(to: width - 1) : ""
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
        x = screen.put(survey.layer == .recall ? "recall 0 " : "density 0 ", x: x, y: rect.y, style: mutedStyle, clip: rect)
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
        // The selected cell's value as the heatmap shows it (the lines under the heatmap
        // give the rest).
        var value = percent(density[p][h])
        if survey.layer == .recall {
            let r = survey.recallValue(pair: p, head: h)
            value = r.map { ($0.estimated ? "~" : "") + fixed($0.value, 3) } ?? "·"
        }
        let shown = "  \(value) \(name) head \(state.headIndex(h))"
        _ = screen.put(shown, x: x, y: rect.y, style: titleStyle, clip: rect)
    }
}

extension ModelSurvey {
    /// The recall of head column `head` of pair `pair`, and whether it is an estimate.
    func recallValue(pair: Int, head: Int) -> (value: Double, estimated: Bool)? {
        guard pair < recall.count, let figures = recall[pair], head < figures.perHead.count else { return nil }
        return (figures.perHead[head].value, figures.sampled != nil)
    }
}
