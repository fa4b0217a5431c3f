import Foundation
import NablaCore

extension Renderer {
    /// The threshold sweep view: curves over thr from 0 to 1 (density of the current head
    /// and of all heads, pooled mass kept, recall when computed) with the current thr
    /// marked, and a table with the predicted speed-up beside it.
    mutating func drawSweep(_ view: SweepView) {
        guard let map = state.map else { return }
        let head = state.currentHead
        let body = Rect(x: 0, y: 0, width: screen.size.width, height: max(screen.size.height - 1, 0))
        screen.put(" threshold sweep · head \(state.headIndex(head)) and all heads · block \(map.blocks.block) · STA \(state.sta.map(\.description) ?? "off")"
                   + " · < > thr · [ ] head · Esc back", in: body.row(0), style: titleStyle, ellipsis: g.ellipsis)
        guard let sweep = view.sweep else {
            centred(["computing the sweep…"], in: body, style: accentStyle)
            return
        }
        let rest = Rect(x: 0, y: 1, width: body.width, height: body.height - 1)
        // The table takes up to 63 columns (recall and error included), the chart at least 3/8.
        let (left, right) = rest.splitLeft(max(rest.width - 63, rest.width * 3 / 8))
        let kernels = view.kernels.flatMap { $0.head == head ? $0.sweep : nil }
        drawSweepChart(sweep, view: view, head: head,
                       in: Rect(x: left.x, y: left.y, width: max(left.width - 1, 0), height: left.height))
        drawSweepTable(sweep, kernels: kernels, view: view, head: head,
                       in: Rect(x: right.x + 1, y: right.y, width: max(right.width - 1, 0), height: right.height))
    }

    /// The curves the chart draws: name, glyph, style, value per sweep point; the recall of
    /// the head and of all heads (averaged) once they are there, exact or estimated
    /// (`~` in the name, `SweepView.headRecall`, `.allRecall`).
    func sweepCurves(_ sweep: ThresholdSweep, view: SweepView,
                     head: Int) -> [(name: String, glyph: Character, style: Style, values: [Double])] {
        var curves: [(String, Character, Style, [Double])] = [
            ("density, head \(state.headIndex(head))", "•", Style(.onlyB, .normal, .bold), sweep.density.map { $0[head] }),
            ("density, all heads", "·", Style(.title), sweep.overallDensity),
            ("mass kept, head \(state.headIndex(head))", "+", Style(.kept(24), .normal, .bold), sweep.massKept.map { $0[head] }),
            ("mass kept, all heads", "x", Style(.kept(24)), ThresholdSweep.averaged(sweep.massKept)),
        ]
        if let recall = view.headRecall(head: head) {
            curves.append(("recall\(recall.figures == nil ? "" : " ~"), head \(state.headIndex(head))", "r",
                           Style(.onlyA, .normal, .bold), recall.values))
        }
        if let all = view.allRecall {
            curves.append(("recall\(all.figures == nil ? "" : " ~"), all heads", "R", Style(.onlyA), all.values))
        }
        return curves
    }

    /// The axes of a chart whose y runs 0 to 1 (the sweep's and the methods view's): labels
    /// `1`, `0.5` (on `halfRow`) and `0` left of `plot`, the y axis line, and the x axis line
    /// under `plot`; returns the x axis's row.
    mutating func drawUnitAxes(plot: Rect, in rect: Rect, halfRow: Int) -> Int {
        let h = plot.height
        for r in 0..<h {
            let label = r == 0 ? "1" : r == h - 1 ? "0" : r == halfRow ? "0.5" : ""
            screen.put(label.leftPadded(to: 3), x: rect.x, y: plot.y + r, style: mutedStyle, clip: rect)
            screen.set(plot.x - 1, plot.y + r, Cell(g.vertical, mutedStyle))
        }
        screen.fill(Rect(x: plot.x, y: plot.maxY, width: plot.width, height: 1), with: Cell(g.horizontal, mutedStyle))
        return plot.maxY
    }

    mutating func drawSweepChart(_ sweep: ThresholdSweep, view: SweepView, head: Int, in rect: Rect) {
        let curves = sweepCurves(sweep, view: view, head: head)
        let legendRows = curves.count
        let plot = Rect(x: rect.x + 5, y: rect.y, width: max(rect.width - 6, 0), height: max(rect.height - 2 - legendRows, 0))
        guard plot.width >= 8, plot.height >= 4 else { return }
        let w = plot.width, h = plot.height
        func row(_ v: Double) -> Int { h - 1 - Int((min(max(v, 0), 1) * Double(h - 1)).rounded()) }
        func value(_ values: [Double], atColumn x: Int) -> Double {
            let t = Double(x) / Double(w - 1)
            let ts = sweep.thresholds
            guard let hi = ts.firstIndex(where: { $0 >= t }) else { return values.last ?? 0 }
            if hi == 0 || ts[hi] == t { return values[hi] }
            let f = (t - ts[hi - 1]) / (ts[hi] - ts[hi - 1])
            return values[hi - 1] + f * (values[hi] - values[hi - 1])
        }
        // Axes: 0 to 1 both ways, gridlines at halves.
        let axisY = drawUnitAxes(plot: plot, in: rect, halfRow: row(0.5))
        screen.put("0", x: plot.x, y: axisY + 1, style: mutedStyle, clip: rect)
        screen.put("0.5", x: plot.x + (w - 1) / 2 - 1, y: axisY + 1, style: mutedStyle, clip: rect)
        screen.put("thr 1", x: plot.maxX - 5, y: axisY + 1, style: mutedStyle, clip: rect)
        // The current threshold.
        let cx = Int((state.threshold * Double(w - 1)).rounded())
        for r in 0..<h { screen.set(plot.x + cx, plot.y + r, Cell(g.vertical, accentStyle)) }
        for curve in curves.reversed() {
            for x in 0..<w {
                screen.set(plot.x + x, plot.y + row(value(curve.values, atColumn: x)), Cell(curve.glyph, curve.style))
            }
        }
        // The marker's label last, over the curves, right of the marker where it fits and
        // else left of it: never over the marker, never cut by the curves (issue 20, item 8).
        let thrLabel = "thr " + fixed(state.threshold, 2)
        let labelX = cx + 1 + thrLabel.count <= w ? plot.x + cx + 1 : max(plot.x, plot.x + cx - thrLabel.count)
        screen.put(thrLabel, x: labelX, y: plot.y, style: accentStyle, clip: rect)
        screen.set(plot.x + cx, plot.y, Cell(g.vertical, accentStyle))
        for (i, curve) in curves.enumerated() {
            let y = axisY + 2 + i
            guard y < rect.maxY else { break }
            let x = screen.put(String(curve.glyph) + " ", x: plot.x, y: y, style: curve.style, clip: rect)
            screen.put(curve.name, x: x, y: y, style: .plain, clip: rect)
        }
    }

    /// Every tenth of thr (and the current thr) with density, mass kept, the predicted
    /// speed-up and, from the kernels (the head alone), recall and error; then the speed-up
    /// measured by running the kernels at a few thresholds beside the predicted one.
    ///
    /// An estimated recall reads `0.830~`, and a line under the table gives the sample and
    /// the widest interval (`SweepView.headRecall`, `.allRecall`).
    mutating func drawSweepTable(_ sweep: ThresholdSweep, kernels: ThresholdSweep?, view: SweepView,
                                 head: Int, in rect: Rect) {
        heading("head \(state.headIndex(head)) · all heads", in: rect)
        let problem = view.kernelProblem
        let headRecall = view.headRecall(head: head), allRecall = view.allRecall
        let recall = headRecall?.values, error = kernels?.error
        func cell(_ r: (values: [Double], figures: [RecallFigures]?), _ i: Int) -> String {
            (fixed(r.values[i], 3) + (r.figures == nil ? "" : "~")).leftPadded(to: 7)
        }
        let massAll = ThresholdSweep.averaged(sweep.massKept)
        var header = "  thr dens h    all mass h    all 1/dens"
        if recall != nil { header += " recall" }
        if allRecall != nil { header += "    all" }
        if error != nil { header += "    error" }
        var lines: [(String, Style)] = [(header, mutedStyle)]
        let here = sweep.thresholds.indices.min { abs(sweep.thresholds[$0] - state.threshold) < abs(sweep.thresholds[$1] - state.threshold) } ?? 0
        for i in sweep.thresholds.indices where i % 2 == 0 || i == here {
            var text = fixed(sweep.thresholds[i], 2).leftPadded(to: 5) + percent(sweep.density[i][head]).leftPadded(to: 7)
                + percent(sweep.overallDensity[i]).leftPadded(to: 7) + fixed(sweep.massKept[i][head], 3).leftPadded(to: 7)
                + fixed(massAll[i], 3).leftPadded(to: 7) + (fixed(1 / sweep.density[i][head], 1) + "x").leftPadded(to: 7)
            if let headRecall { text += cell(headRecall, i) }
            if let allRecall { text += cell(allRecall, i) }
            if let error { text += String(format: "%.1e", error[i][0]).leftPadded(to: 9) }
            lines.append((text, i == here ? Style(.accent, .normal, [.bold, .reverse]) : .plain))
        }
        for (name, r) in [("head", headRecall?.figures), ("all heads", allRecall?.figures)] {
            guard let r, let k = r.first?.sampled else { continue }
            let widest = r.map { (name == "head" ? $0.perHead[0] : $0.overall).halfWidth }.max() ?? 0
            lines.append(("~ \(name): estimated from \(k) of \(r[0].total) query blocks, +-\(fixed(widest, 3)) (95%); exact computing", mutedStyle))
        }
        if let problem = view.estimateProblem { lines.append(("no estimate: \(problem)", mutedStyle)) }
        lines.append(("", .plain))
        let values = state.input?.v != nil
        if let kernels {
            if let dense = kernels.measured.first?.denseMs {
                lines.append(("measured, head \(state.headIndex(head)): dense \(fixed(dense, 1)) ms", Style(.title, .normal, .bold)))
                lines.append(("  thr  sparse ms  speed-up  1/dens    error", mutedStyle))
                for m in kernels.measured {
                    lines.append((fixed(m.threshold, 2).leftPadded(to: 5) + fixed(m.sparseMs, 1).leftPadded(to: 11)
                                  + (fixed(m.speedUp, 2) + "x").leftPadded(to: 10) + (fixed(1 / m.density, 1) + "x").leftPadded(to: 8)
                                  + String(format: "%.1e", m.error).leftPadded(to: 9), .plain))
                }
                if error == nil { lines.append(("error at every thr: over 1 s here (nabla sweep --error)", mutedStyle)) }
            } else if !values {
                lines.append(("no V: measured speed-up and error need V", mutedStyle))
            }
        } else if let problem {
            lines.append((problem, Style(.error)))
        } else {
            lines.append(("computing recall and kernel runs, head \(state.headIndex(head))…", accentStyle))
        }
        if kernels != nil && view.allHeadsRecall == nil && state.heads > 1 {
            lines.append(("computing the recall of all \(state.heads) heads…", accentStyle))
        }
        for (i, line) in lines.enumerated() where i + 1 < rect.height {
            screen.put(line.0, in: rect, row: i + 1, style: line.1, ellipsis: g.ellipsis)
        }
    }
}
