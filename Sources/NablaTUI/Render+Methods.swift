import Foundation
import NablaCore

extension Renderer {
    /// The methods view: recall against density, one curve per method (its points drawn
    /// with the method's letter, the line between them with dots), the current settings'
    /// nabla mask marked `*`, the selected point reversed; beside it, per method its
    /// recall at 10% and 20% density and the selected point.
    mutating func drawMethods(_ view: MethodsView) {
        guard let map = state.map else { return }
        let body = Rect(x: 0, y: 0, width: screen.size.width, height: max(screen.size.height - 1, 0))
        let who = view.showAll ? "all heads averaged" : "head \(state.headIndex)"
        putTitle([" sparse methods · recall vs density · \(who) · block \(map.blocks.block) · arrows: point · a heads · Enter: B · Esc back",
                  " sparse methods · \(who) · arrows: point · a heads · Enter: B · Esc back",
                  " methods · \(who) · Esc back"], in: body.row(0))
        let rest = Rect(x: 0, y: 1, width: body.width, height: body.height - 1)
        guard let result = view.shown else {
            let problem = view.showAll ? view.allProblem : view.headProblem
            let waiting = view.showAll && view.head == nil ? "computing the head's curves first…"
                : view.showAll ? "computing every method on all \(state.heads) heads…" : "computing every method on head \(state.headIndex)…"
            centred(problem.map { ["the methods cannot run here:", $0] } ?? [waiting], in: rest, style: problem == nil ? accentStyle : Style(.error))
            return
        }
        let (left, right) = rest.splitLeft(max(rest.width - 40, rest.width / 2))
        drawMethodsChart(result, cursor: view.cursor, in: Rect(x: left.x, y: left.y, width: max(left.width - 1, 0), height: left.height))
        drawMethodsTable(view, result, in: Rect(x: right.x + 1, y: right.y, width: max(right.width - 1, 0), height: right.height))
    }

    /// The letter and style of a method's curve (colours after `Figures.methodColor`).
    func methodMark(_ name: String) -> (glyph: Character, style: Style) {
        let glyph: Character = name == "svg" ? "g" : name.first ?? "?"
        let c = Figures.methodColor(name)
        let role: ColorRole = name == "oracle" ? .title
            : .video(r: Float(c.r) / 255, g: Float(c.g) / 255, b: Float(c.b) / 255)
        return (glyph, Style(role, .normal, theme.mode.hasColor ? [] : .bold))
    }

    /// The density axis' end: 70% unless a curve starts beyond 60%, or sooner (as the
    /// figure `Figures.methods` does).
    static func methodsTop(_ result: MethodsResult) -> Double {
        let all = result.sweep.curves.indices.map { result.points($0) }
        let reach = all.contains { ($0.first?.density ?? 0) > 0.6 } ? 1.0 : 0.7
        let most = all.flatMap { $0.map(\.density) }.max() ?? 1
        return min(reach, max(0.1, (most * 10).rounded(.up) / 10))
    }

    mutating func drawMethodsChart(_ result: MethodsResult, cursor: MethodsCursor, in rect: Rect) {
        let plot = Rect(x: rect.x + 5, y: rect.y, width: max(rect.width - 6, 0), height: max(rect.height - 2, 0))
        guard plot.width >= 8, plot.height >= 4 else { return }
        let w = plot.width, h = plot.height
        let top = Self.methodsTop(result)
        func row(_ r: Double) -> Int { h - 1 - Int((min(max(r, 0), 1) * Double(h - 1)).rounded()) }
        func column(_ d: Double) -> Int { Int((min(max(d, 0), top) / top * Double(w - 1)).rounded()) }
        let axisY = drawUnitAxes(plot: plot, in: rect, halfRow: row(0.5))
        screen.put("0%", x: plot.x, y: axisY + 1, style: mutedStyle, clip: rect)
        let mid = percent(top / 2)
        screen.put(mid, x: plot.x + (w - 1) / 2 - mid.count / 2, y: axisY + 1, style: mutedStyle, clip: rect)
        let end = "density " + percent(top)
        screen.put(end, x: plot.maxX - end.count, y: axisY + 1, style: mutedStyle, clip: rect)
        // Lines first (dots, interpolated per column), then every curve's points over them.
        let curves = result.sweep.curves.indices.map { (result.sweep.curves[$0].name, result.points($0)) }
        for (name, points) in curves.reversed() {
            let mark = methodMark(name)
            for (p, q) in zip(points, points.dropFirst()) where p.density <= top {
                let x0 = column(p.density), x1 = column(min(q.density, top))
                guard x1 > x0 + 1 else { continue }
                for x in (x0 + 1)..<x1 {
                    let d = Double(x) / Double(w - 1) * top
                    let f = q.density > p.density ? (d - p.density) / (q.density - p.density) : 0
                    screen.set(plot.x + x, plot.y + row(p.recall + f * (q.recall - p.recall)), Cell(g.unicode ? "·" : ".", mark.style))
                }
            }
        }
        for (name, points) in curves.reversed() {
            let mark = methodMark(name)
            for p in points where p.density <= top {
                screen.set(plot.x + column(p.density), plot.y + row(p.recall), Cell(mark.glyph, mark.style))
            }
        }
        let current = result.current
        if current.meanDensity <= top {
            screen.set(plot.x + column(current.meanDensity), plot.y + row(current.meanRecall), Cell("*", Style(.accent, .normal, .bold)))
        }
        if curves.indices.contains(cursor.curve), curves[cursor.curve].1.indices.contains(cursor.row) {
            let p = curves[cursor.curve].1[cursor.row], mark = methodMark(curves[cursor.curve].0)
            if p.density <= top {
                screen.set(plot.x + column(p.density), plot.y + row(p.recall), Cell(mark.glyph, Style(.accent, .normal, [.bold, .reverse])))
            }
        }
    }

    /// Per method its recall at 10% and 20% density (interpolated, `-` where its curve does
    /// not reach), then the selected point and the current settings.
    mutating func drawMethodsTable(_ view: MethodsView, _ result: MethodsResult, in rect: Rect) {
        heading(result.head == nil ? "all \(state.heads) heads averaged" : "head \(state.headIndex)", in: rect)
        var lines: [(String, Style)] = [("  method      rec@10% rec@20% points", mutedStyle)]
        let sweep = result.sweep
        for (c, curve) in sweep.curves.enumerated() {
            // One head: slot 0; every head: the mean of the heads' recalls at that density.
            let at = { (d: Double) in sweep.recall(curve: c, at: d, head: result.head == nil ? nil : 0).map { fixed($0, 3) } ?? "-" }
            let mark = methodMark(curve.name)
            let text = "\(mark.glyph) " + (curve.name + (curve.isStatic ? "*" : "")).rightPadded(to: 11)
                + at(0.1).leftPadded(to: 8) + at(0.2).leftPadded(to: 8) + String(curve.rows.count).leftPadded(to: 7)
            lines.append((text, c == view.cursor.curve ? Style(.accent, .normal, .bold) : .plain))
        }
        lines.append(("  * static: from the grid alone", mutedStyle))
        lines.append(("", .plain))
        if let row = state.selectedMethodRow(view) {
            lines.append(("selected: \(row.setting)", Style(.title, .normal, .bold)))
            lines.append(("  density \(percent(MethodsResult.density(row))) · recall \(fixed(MethodsResult.recall(row), 3))", .plain))
            lines.append(("  Enter: B of the compare view", mutedStyle))
        }
        let c = result.current
        lines.append(("* now: nabla \(state.settings)", Style(.accent, .normal, .bold)))
        lines.append(("  density \(percent(c.meanDensity)) · recall \(fixed(c.meanRecall, 3))", .plain))
        if !view.showAll {
            let all = view.all == nil ? (view.allProblem ?? "computing all \(state.heads) heads…") : "a: all heads averaged"
            lines.append((all, view.all == nil && view.allProblem == nil ? accentStyle : mutedStyle))
        }
        for (i, line) in lines.enumerated() where i + 1 < rect.height {
            screen.put(line.0, in: rect, row: i + 1, style: line.1, ellipsis: g.ellipsis)
        }
    }
}
