import Foundation

extension Figures {
    /// A colour per method, from Okabe and Ito's palette for colour-blind readers; the
    /// oracle in black.
    public static func methodColor(_ name: String) -> FigureColor {
        switch name {
        case "nabla": FigureColor(0, 114, 178)
        case "sta": FigureColor(230, 159, 0)
        case "vsa": FigureColor(0, 158, 115)
        case "xattention": FigureColor(213, 94, 0)
        case "radial": FigureColor(86, 180, 233)
        case "svg": FigureColor(204, 121, 167)
        default: .black
        }
    }

    /// Recall of the true attention against density, one curve (with its points) per
    /// method of `sweep`, for head slot `head` or all heads averaged (`nil`); `marks` are
    /// drawn as red rings with their labels (the app's current settings).
    public static func methods(_ sweep: MethodSweep, head: Int? = nil, title: String,
                               marks: [(density: Double, recall: Double, label: String)] = []) -> Figure {
        var fig = Figure(width: 640, height: 440)
        fig.add(.text(x: 20, y: 22, title, size: 14))
        let x0 = 60.0, y0 = 50.0, w = 420.0, ph = 320.0
        let rows = sweep.curves.map { c in
            c.rows.map { r in head.map { (r.density[$0], r.recall[$0]) } ?? (r.meanDensity, r.meanRecall) }.sorted { $0.0 < $1.0 }
        }
        // The density axis ends at 70% (the sweeps span about 2% to 60%) unless a curve
        // starts beyond 60% (a static method on a short video), or sooner.
        let reach = rows.contains { ($0.first?.0 ?? 0) > 0.6 } ? 1.0 : 0.7
        let top = min(reach, max(0.1, ((rows.flatMap { $0.map(\.0) }.max() ?? 1) * 10).rounded(.up) / 10))
        func point(_ d: Double, _ r: Double) -> (x: Double, y: Double) { (x0 + min(d, top) / top * w, y0 + ph - r * ph) }
        /// The points up to `top`, the curve cut where it crosses `top`.
        func clipped(_ pts: [(Double, Double)]) -> [(Double, Double)] {
            var out = pts.filter { $0.0 <= top }
            if let after = pts.first(where: { $0.0 > top }) {
                if let before = out.last, after.0 > before.0 {
                    out.append((top, before.1 + (after.1 - before.1) * (top - before.0) / (after.0 - before.0)))
                } else if out.isEmpty {
                    out.append((top, after.1))
                }
            }
            return out
        }
        for g in stride(from: 0.0, through: 1.0, by: 0.25) {
            fig.add(.line(x1: x0, y1: y0 + ph - g * ph, x2: x0 + w, y2: y0 + ph - g * ph, color: .light, width: 0.5))
            fig.add(.text(x: x0 - 6, y: y0 + ph - g * ph + 4, fixed(g, 2), size: 10, anchor: "end"))
            fig.add(.text(x: x0 + g * w, y: y0 + ph + 16, percent(g * top), size: 10, anchor: "middle"))
        }
        for (i, c) in sweep.curves.enumerated() {
            let color = methodColor(c.name)
            let pts = clipped(rows[i]).map { point($0.0, $0.1) }
            if pts.count > 1 { fig.add(.polyline(pts, color: color, width: 2)) }
            for r in rows[i] where r.0 <= top {
                let p = point(r.0, r.1)
                fig.add(.rect(x: p.x - 2.5, y: p.y - 2.5, width: 5, height: 5, fill: color))
            }
            let ly = y0 + 20 + Double(i) * 18
            fig.add(.line(x1: x0 + w + 15, y1: ly, x2: x0 + w + 35, y2: ly, color: color, width: 2))
            fig.add(.text(x: x0 + w + 40, y: ly + 4, c.name + (c.isStatic ? " (static)" : ""), size: 10))
        }
        for m in marks {
            let p = point(m.density, m.recall)
            fig.add(.rect(x: p.x - 5, y: p.y - 5, width: 10, height: 10, fill: nil, stroke: .red, strokeWidth: 1.5))
            fig.add(.text(x: p.x + 8, y: p.y - 6, m.label, size: 10, color: .red))
        }
        fig.add(.rect(x: x0, y: y0, width: w, height: ph, fill: nil, stroke: .black, strokeWidth: 1))
        fig.add(.text(x: x0 + w / 2, y: y0 + ph + 36, "density (kept blocks / N²)", size: 11, anchor: "middle"))
        fig.add(.text(x: x0, y: y0 - 8, "recall of the true attention", size: 11, anchor: "start"))
        fig.add(.text(x: x0 + w + 15, y: y0 + 30 + Double(sweep.curves.count) * 18,
                      head.map { "head \(sweep.headIndices[$0])" } ?? "all heads averaged", size: 10))
        return fig
    }
}
