import Foundation

/// The app's views as figures for slides and papers (`nabla plot`, the app's `:plot`):
/// block map, frame coverage, one row's stages, threshold sweep, mask comparison and the
/// heads overview, each from the engine's own results.
public enum Figures {
    /// The views `nabla plot --view` takes.
    public static let views = ["map", "coverage", "row", "sweep", "compare", "overview", "methods"]

    /// Cells per side drawn for an `N x N` map: `N` up to 256, else pooled to about 256
    /// (about the output resolution: a figure's map is 460 units wide), so that a figure's
    /// size does not grow with `N^2`.
    static func cellStride(_ n: Int, cap: Int = 256) -> Int { max(1, (n + cap - 1) / cap) }

    /// What a pooled map's cell stands for, for the figure's caption and `nabla plot`'s
    /// message: `nil` when one cell is one block.
    public static func scaleNote(n: Int, cap: Int = 256, what: String = "blocks") -> String? {
        let k = cellStride(n, cap: cap)
        guard k > 1 else { return nil }
        let cells = (n + k - 1) / k
        return "N = \(n) \(what) drawn as \(cells)x\(cells) cells of \(k)x\(k) \(what)"
    }

    /// The largest SVG `nabla plot` and `:plot` write; a larger figure is refused (PNG
    /// has no such limit: its size follows the pixels, not the shapes).
    public static let svgByteLimit = 64 << 20

    /// The figure as SVG bytes, or an error when it exceeds `svgByteLimit`.
    /// - Throws: `NablaError.badArgument` with the size and what to do instead.
    public static func svgBytes(_ figure: Figure, name: String, limit: Int = svgByteLimit) throws -> [UInt8] {
        let bytes = Array(figure.svg().utf8)
        guard bytes.count <= limit else {
            throw NablaError(.badArgument, "\(name): the SVG would be \(bytes.count) bytes (over \(limit)); write a .png instead")
        }
        return bytes
    }

    /// Colour of block `(a, b)` of head `h`: kept on viridis by `log10 P` (from a
    /// hundredth of uniform to 1), dropped in light grey; pooled cells by share kept.
    static func cellColor(map: PooledMap, mask: BlockMask, head h: Int, rows: Range<Int>, cols: Range<Int>) -> FigureColor {
        let n = map.n
        if rows.count == 1 && cols.count == 1 {
            let p = map.probability(head: h, query: rows.lowerBound, key: cols.lowerBound)
            guard mask.isKept(head: h, query: rows.lowerBound, key: cols.lowerBound) else { return .light }
            let lo = log10(1 / Double(n)) - 2
            return .viridis(p > 0 ? (log10(p) - lo) / -lo : 0)
        }
        var kept = 0
        for a in rows { for b in cols where mask.isKept(head: h, query: a, key: b) { kept += 1 } }
        return kept == 0 ? .light : .viridis(Double(kept) / Double(rows.count * cols.count))
    }

    /// Draws head `h`'s map at `(x, y)` in a square of `side` units; returns the cell size.
    @discardableResult
    static func drawMap(_ fig: inout Figure, map: PooledMap, mask: BlockMask, head h: Int, x: Double, y: Double, side: Double,
                        frames: Bool, maxCells: Int = 256) -> Double {
        let n = map.n, k = cellStride(n, cap: maxCells), cells = (n + k - 1) / k
        let cell = side / Double(cells)
        for r in 0..<cells {
            // Runs of equal colour along the row as one rectangle each (smaller files).
            var start = 0
            var run = cellColor(map: map, mask: mask, head: h, rows: (r * k)..<min(n, (r + 1) * k), cols: 0..<min(n, k))
            for c in 1...cells {
                let color = c < cells ? cellColor(map: map, mask: mask, head: h, rows: (r * k)..<min(n, (r + 1) * k),
                                                  cols: (c * k)..<min(n, (c + 1) * k)) : nil
                if color != run {
                    fig.add(.rect(x: x + Double(start) * cell, y: y + Double(r) * cell, width: Double(c - start) * cell + 0.02,
                                  height: cell + 0.02, fill: run))
                    start = c
                    if let color { run = color }
                }
            }
        }
        if k == 1 && cell >= 3 {
            // The kept outline: edges between kept and dropped blocks.
            for a in 0..<n {
                for b in 0..<n where mask.isKept(head: h, query: a, key: b) {
                    let x0 = x + Double(b) * cell, y0 = y + Double(a) * cell
                    if a == 0 || !mask.isKept(head: h, query: a - 1, key: b) { fig.add(.line(x1: x0, y1: y0, x2: x0 + cell, y2: y0, color: .black, width: 0.6)) }
                    if a == n - 1 || !mask.isKept(head: h, query: a + 1, key: b) { fig.add(.line(x1: x0, y1: y0 + cell, x2: x0 + cell, y2: y0 + cell, color: .black, width: 0.6)) }
                    if b == 0 || !mask.isKept(head: h, query: a, key: b - 1) { fig.add(.line(x1: x0, y1: y0, x2: x0, y2: y0 + cell, color: .black, width: 0.6)) }
                    if b == n - 1 || !mask.isKept(head: h, query: a, key: b + 1) { fig.add(.line(x1: x0 + cell, y1: y0, x2: x0 + cell, y2: y0 + cell, color: .black, width: 0.6)) }
                }
            }
        }
        fig.add(.rect(x: x, y: y, width: side, height: side, fill: nil, stroke: .black, strokeWidth: 1))
        if frames {
            let per = map.blocks.blocksPerSlab, tb = map.blocks.tb
            let step = max(1, tb / 16)
            for t in 0..<tb {
                let p = Double(t * per) / Double(n) * side
                if t > 0 {
                    fig.add(.line(x1: x + p, y1: y, x2: x + p, y2: y + side, color: .white, width: 0.8))
                    fig.add(.line(x1: x, y1: y + p, x2: x + side, y2: y + p, color: .white, width: 0.8))
                }
                if t % step == 0 {
                    let mid = (Double(t) + 0.5) * Double(per) / Double(n) * side
                    fig.add(.text(x: x + mid, y: y - 4, "t\(t)", size: 9, color: .grey, anchor: "middle"))
                    fig.add(.text(x: x - 4, y: y + mid + 3, "t\(t)", size: 9, color: .grey, anchor: "end"))
                }
            }
        }
        return cell
    }

    /// A vertical colour bar from `low` to `high` labels.
    static func colorBar(_ fig: inout Figure, x: Double, y: Double, height: Double, low: String, high: String, title: String) {
        let steps = 64
        for i in 0..<steps {
            let t = 1 - Double(i) / Double(steps - 1)
            fig.add(.rect(x: x, y: y + Double(i) * height / Double(steps), width: 14, height: height / Double(steps) + 0.05, fill: .viridis(t)))
        }
        fig.add(.rect(x: x, y: y, width: 14, height: height, fill: nil, stroke: .black, strokeWidth: 0.8))
        fig.add(.text(x: x + 18, y: y + 9, high, size: 10))
        fig.add(.text(x: x + 18, y: y + height, low, size: 10))
        fig.add(.text(x: x, y: y - 8, title, size: 10))
        fig.add(.rect(x: x, y: y + height + 12, width: 14, height: 10, fill: .light, stroke: .grey, strokeWidth: 0.5))
        fig.add(.text(x: x + 18, y: y + height + 21, "dropped", size: 10))
    }

    /// The block map of head `h`: kept blocks by `log10 P`, dropped in grey, the kept
    /// outline (when one cell is one block), frame slabs labelled, a colour bar.
    public static func map(map: PooledMap, mask: BlockMask, head h: Int, title: String) -> Figure {
        var fig = Figure(width: 600, height: 560)
        fig.add(.text(x: 20, y: 22, title, size: 14))
        drawMap(&fig, map: map, mask: mask, head: h, x: 50, y: 60, side: 460, frames: true)
        fig.add(.text(x: 280, y: 545, "key block (frame slabs t)", size: 11, anchor: "middle"))
        fig.add(.text(x: 14, y: 300, "query", size: 11))
        let pooled = cellStride(map.n) > 1
        if let note = scaleNote(n: map.n) { fig.add(.text(x: 50, y: 40, note + "; colour: share of a cell's blocks kept", size: 10, color: .grey)) }
        colorBar(&fig, x: 530, y: 80, height: 300, low: pooled ? "0" : fixed(log10(1 / Double(map.n)) - 2, 1),
                 high: pooled ? "1" : "0", title: pooled ? "share kept" : "log10 P")
        return fig
    }

    /// Frame coverage of head `h` as a `Tb x Tb` heatmap with the values in percent.
    /// More than 115 slabs (under 4 units a cell) are pooled into groups of `k x k`
    /// slabs, each cell their mean, and the caption says so.
    public static func coverage(mask: BlockMask, head h: Int, title: String) -> Figure {
        let slabs = mask.statistics.slabs, k = cellStride(slabs, cap: 115), tb = (slabs + k - 1) / k
        let cell = min(40, 460 / Double(max(tb, 1)))
        let side = cell * Double(tb)
        // At least 560 wide and 240 tall, so the title, caption and colour bar fit a small grid.
        var fig = Figure(width: max(side + 160, 560), height: max(side + 110, 240))
        fig.add(.text(x: 20, y: 22, title, size: 14))
        if let note = scaleNote(n: slabs, cap: 115, what: "slabs") { fig.add(.text(x: 60, y: 40, note + " (their mean)", size: 10, color: .grey)) }
        // Colours span 0 to the largest cell (coverage is often a few percent: a 0-100%
        // scale would draw it in one colour); the colour bar says the range (item 6).
        var top = 0.0
        for a in 0..<tb { for b in 0..<tb {
            let rows = (a * k)..<min(slabs, (a + 1) * k), cols = (b * k)..<min(slabs, (b + 1) * k)
            var v = 0.0
            for r in rows { for c in cols { v += mask.statistics.coverage(head: h, querySlab: r, keySlab: c) } }
            top = max(top, v / Double(rows.count * cols.count))
        } }
        let scale = top > 0 ? top : 1
        for a in 0..<tb {
            for b in 0..<tb {
                var v = 0.0
                let rows = (a * k)..<min(slabs, (a + 1) * k), cols = (b * k)..<min(slabs, (b + 1) * k)
                for r in rows { for c in cols { v += mask.statistics.coverage(head: h, querySlab: r, keySlab: c) } }
                v /= Double(rows.count * cols.count)
                let x = 60 + Double(b) * cell, y = 60 + Double(a) * cell
                fig.add(.rect(x: x, y: y, width: cell, height: cell, fill: v > 0 ? .viridis(v / scale) : .light, stroke: .white, strokeWidth: 0.5))
                if cell >= 18 {
                    fig.add(.text(x: x + cell / 2, y: y + cell / 2 + 4, String(Int((v * 100).rounded())), size: min(11, cell / 2.5),
                                  color: v == 0 || v / scale > 0.55 ? .black : .white, anchor: "middle"))
                }
            }
            if cell >= 8 || a % Int((8 / cell).rounded(.up)) == 0 {
                fig.add(.text(x: 54, y: 60 + (Double(a) + 0.5) * cell + 4, String(a * k), size: 9, color: .grey, anchor: "end"))
                fig.add(.text(x: 60 + (Double(a) + 0.5) * cell, y: 55, String(a * k), size: 9, color: .grey, anchor: "middle"))
            }
        }
        fig.add(.text(x: 60 + max(side / 2, 150), y: max(side + 85, 215), "key frame slab (values: % of block pairs kept)", size: 11, anchor: "middle"))
        colorBar(&fig, x: side + 90, y: 80, height: max(min(200, side - 40), 100), low: "0%", high: percent(top), title: "coverage")
        return fig
    }

    /// One row's stages: probabilities sorted descending as bars (kept by the cut, by STA
    /// only, dropped), the running sum, the threshold line and the cut.
    /// `trueMass`: each key block's true (token-level) attention mass for this query block,
    /// drawn as a marker over its bar on the same P scale (what the follow view's `t` shows).
    public static func row(_ trace: RowTrace, title: String, trueMass: [Double]? = nil) -> Figure {
        var fig = Figure(width: 700, height: trueMass == nil ? 420 : 440)
        fig.add(.text(x: 20, y: 22, title, size: 14))
        let n = trace.order.count
        let shown = min(n, max(2 * trace.keptCount, 32))
        let x0 = 60.0, y0 = 50.0, w = 600.0, h = 300.0
        let bw = w / Double(shown), top = trace.probs.max() ?? 1
        for r in 0..<shown {
            let b = trace.order[r]
            let color: FigureColor = trace.cutKept[b] ? .viridis(0.35) : (trace.kept[b] ? .staOnly : .dropped)
            let bh = trace.probs[b] / top * h
            fig.add(.rect(x: x0 + Double(r) * bw, y: y0 + h - bh, width: max(bw - 0.5, 0.3), height: bh, fill: color))
        }
        if let trueMass {
            for r in 0..<shown {
                let m = min(trueMass[trace.order[r]] / top, 1.08)
                fig.add(.rect(x: x0 + Double(r) * bw + bw * 0.2, y: y0 + h - m * h - 1.5, width: max(bw * 0.6, 1), height: 3, fill: .black))
            }
        }
        let points = (0..<shown).map { (x: x0 + (Double($0) + 0.5) * bw, y: y0 + h - trace.runningSum[$0] * h) }
        fig.add(.polyline(points, color: .orange, width: 2))
        let ty = y0 + h - trace.threshold * h
        fig.add(.line(x1: x0, y1: ty, x2: x0 + w, y2: ty, color: .red, width: 1))
        fig.add(.text(x: x0 + w + 4, y: ty + 4, "thr " + fixed(trace.threshold, 2), size: 10, color: .red))
        let cx = x0 + Double(trace.cutCount) * bw
        fig.add(.line(x1: cx, y1: y0, x2: cx, y2: y0 + h, color: .black, width: 1))
        fig.add(.rect(x: x0, y: y0, width: w, height: h, fill: nil, stroke: .black, strokeWidth: 1))
        fig.add(.text(x: x0 - 6, y: y0 + 8, "1", size: 10, anchor: "end"))
        fig.add(.text(x: x0 - 6, y: y0 + h, "0", size: 10, anchor: "end"))
        fig.add(.text(x: x0 + w / 2, y: y0 + h + 18, "key blocks by rank (top \(shown) of \(n)); bars: P / max P, line: running sum (axis 0 to 1)", size: 11, anchor: "middle"))
        // The bars' own scale, above the plot's right end (issue 20, item 2).
        fig.add(.text(x: x0 + w, y: y0 - 6, "bar top = max P \(String(format: "%.3g", top))", size: 10, color: .grey, anchor: "end"))
        fig.add(.text(x: x0, y: y0 + h + 40, "cut keeps \(trace.cutCount) blocks (mass \(fixed(trace.cutMass, 3))); STA only \(trace.staOnlyCount); kept \(trace.keptCount), mass \(fixed(trace.mass, 3))", size: 11))
        var legend: [(FigureColor, String)] = [(.viridis(0.35), "kept by the cut"), (.staOnly, "STA only"), (.dropped, "dropped"), (.orange, "running sum")]
        if let trueMass {
            legend.append((.black, "true block mass"))
            let kept = (0..<n).filter { trace.kept[$0] }.reduce(0.0) { $0 + trueMass[$1] }
            fig.add(.text(x: x0, y: y0 + h + 80, "true block mass kept \(fixed(kept, 3)) (markers: each block's true mass on the bars' scale)", size: 11))
        }
        for (i, item) in legend.enumerated() {
            fig.add(.rect(x: x0 + Double(i) * 125, y: y0 + h + 52, width: 12, height: 10, fill: item.0))
            fig.add(.text(x: x0 + Double(i) * 125 + 16, y: y0 + h + 61, item.1, size: 10))
        }
        return fig
    }

    /// Sweep curves over thr: density of head `h` and of all heads, mass kept, recall
    /// when computed; the current threshold marked.
    /// The curves the app's sweep view draws: density and mass kept of head `h` and of all
    /// heads, and recall of the head (`headRecall`, else `sweep.recall`) and of all heads
    /// (`allRecall`, else the mean of `sweep.recall`) when known (issue 20, item 6).
    public static func sweep(_ sweep: ThresholdSweep, head h: Int, headName: Int? = nil, current: Double, title: String,
                             headRecall: [Double]? = nil, allRecall: [Double]? = nil) -> Figure {
        let name = headName ?? h
        var fig = Figure(width: 640, height: 440)
        fig.add(.text(x: 20, y: 22, title, size: 14))
        let x0 = 60.0, y0 = 50.0, w = 440.0, ph = 320.0
        func point(_ t: Double, _ v: Double) -> (x: Double, y: Double) { (x0 + t * w, y0 + ph - v * ph) }
        for g in stride(from: 0.0, through: 1.0, by: 0.25) {
            fig.add(.line(x1: x0, y1: y0 + ph - g * ph, x2: x0 + w, y2: y0 + ph - g * ph, color: .light, width: 0.5))
            fig.add(.text(x: x0 - 6, y: y0 + ph - g * ph + 4, fixed(g, 2), size: 10, anchor: "end"))
            fig.add(.text(x: x0 + g * w, y: y0 + ph + 16, fixed(g, 2), size: 10, anchor: "middle"))
        }
        var curves: [(String, FigureColor, [Double])] = [
            ("density, head \(name)", .blue, sweep.density.map { $0[h] }),
            ("density, all heads", .grey, sweep.overallDensity),
            ("mass kept, head \(name)", .viridis(0.6), sweep.massKept.map { $0[h] }),
            ("mass kept, all heads", .viridis(0.85), ThresholdSweep.averaged(sweep.massKept)),
        ]
        if let recall = headRecall ?? sweep.recall?.map({ $0[h] }) { curves.append(("recall, head \(name)", .orange, recall)) }
        if let recall = allRecall ?? sweep.recall.map(ThresholdSweep.averaged) { curves.append(("recall, all heads", .red, recall)) }
        for (i, c) in curves.enumerated() {
            fig.add(.polyline(zip(sweep.thresholds, c.2).map { point($0, $1) }, color: c.1, width: 2))
            fig.add(.line(x1: x0 + w + 15, y1: y0 + 20 + Double(i) * 18, x2: x0 + w + 35, y2: y0 + 20 + Double(i) * 18, color: c.1, width: 2))
            fig.add(.text(x: x0 + w + 40, y: y0 + 24 + Double(i) * 18, c.0, size: 10))
        }
        fig.add(.line(x1: x0 + current * w, y1: y0, x2: x0 + current * w, y2: y0 + ph, color: .red, width: 1))
        fig.add(.text(x: x0 + current * w + 3, y: y0 + 12, "thr " + fixed(current, 2), size: 10, color: .red))
        fig.add(.rect(x: x0, y: y0, width: w, height: ph, fill: nil, stroke: .black, strokeWidth: 1))
        fig.add(.text(x: x0 + w / 2, y: y0 + ph + 36, "threshold thr", size: 11, anchor: "middle"))
        return fig
    }

    /// Masks A and B of head `h` overlaid: only A, only B, both, neither; each one's
    /// density, their Jaccard and, when given, each one's recall of the true attention
    /// and output error against dense for head `h`.
    public static func compare(_ c: MaskComparison, head h: Int, title: String,
                               recall: (a: Double, b: Double)? = nil, error: (a: Double, b: Double)? = nil) -> Figure {
        var fig = Figure(width: 620, height: 580)
        fig.add(.text(x: 20, y: 22, title, size: 14))
        let line = "A \(c.a.spec) (\(percent(c.a.density[h])))  B \(c.b.spec) (\(percent(c.b.density[h])))  Jaccard \(fixed(c.jaccard(head: h), 3))"
        fig.add(.text(x: 20, y: 40, line, size: 11))
        // Recall and error on a line of their own under the map (one line ran off the edge).
        var figures: [String] = []
        if let recall { figures.append("recall A \(fixed(recall.a, 3)) B \(fixed(recall.b, 3))") }
        if let error { figures.append("error A \(String(format: "%.2e", error.a)) B \(String(format: "%.2e", error.b))") }
        if !figures.isEmpty { fig.add(.text(x: 50, y: 545, figures.joined(separator: "  "), size: 11)) }
        let n = c.a.n, k = cellStride(n), cells = (n + k - 1) / k, side = 460.0, cell = side / Double(cells)
        let onlyA = FigureColor.orange, onlyB = FigureColor.blue, both = FigureColor(60, 60, 60), mixed = FigureColor(150, 110, 190)
        for r in 0..<cells {
            var run: (start: Int, color: FigureColor?) = (0, nil)
            for col in 0..<cells {
                let color: FigureColor = switch OverlayKind(c, head: h, queries: (r * k)..<min(n, (r + 1) * k), keys: (col * k)..<min(n, (col + 1) * k)) {
                case .neither: .white
                case .onlyA: onlyA
                case .onlyB: onlyB
                case .both: both
                case .mixed: mixed
                }
                // Runs of equal colour along the row as one rectangle (white is the background).
                if color != run.color {
                    if let c = run.color, c != .white {
                        fig.add(.rect(x: 50 + Double(run.start) * cell, y: 60 + Double(r) * cell,
                                      width: Double(col - run.start) * cell + 0.02, height: cell + 0.02, fill: c))
                    }
                    run = (col, color)
                }
            }
            if let c = run.color, c != .white {
                fig.add(.rect(x: 50 + Double(run.start) * cell, y: 60 + Double(r) * cell,
                              width: Double(cells - run.start) * cell + 0.02, height: cell + 0.02, fill: c))
            }
        }
        if let note = scaleNote(n: n) { fig.add(.text(x: 50, y: 54, note + "; colour: the kind of more than half of a cell's kept blocks, else mixed", size: 10, color: .grey)) }
        fig.add(.rect(x: 50, y: 60, width: side, height: side, fill: nil, stroke: .black, strokeWidth: 1))
        for (i, item) in ([(onlyA, "only A"), (onlyB, "only B"), (both, "both")] + (k > 1 ? [(mixed, "mixed")] : [])).enumerated() {
            fig.add(.rect(x: 530, y: 80 + Double(i) * 20, width: 14, height: 12, fill: item.0))
            fig.add(.text(x: 548, y: 90 + Double(i) * 20, item.1, size: 10))
        }
        return fig
    }

    /// Cells per side of each head's map in the overview: about 200k cells over all heads
    /// at most (96 per side up to 21 heads, at least 16).
    public static func overviewCap(heads: Int) -> Int {
        max(16, min(96, Int((200_000 / Double(max(heads, 1))).squareRoot())))
    }

    /// Every head's map small, with its density.
    /// `headIndices`: how each head is named (its tensor index; default its position).
    public static func overview(map: PooledMap, mask: BlockMask, headIndices: [Int]? = nil, title: String) -> Figure {
        let heads = map.heads, cols = Int(Double(heads).squareRoot().rounded(.up)), rows = (heads + cols - 1) / cols
        let side = 180.0, gap = 30.0
        let cap = overviewCap(heads: heads)
        // Room on the right for the colour bar, and at least 560 wide for the title.
        let mapsWidth = Double(cols) * (side + gap) + 40
        var fig = Figure(width: max(mapsWidth + 90, 560), height: max(Double(rows) * (side + gap) + 60, 300))
        fig.add(.text(x: 20, y: 22, title, size: 14))
        let pooled = cellStride(map.n, cap: cap) > 1
        if let note = scaleNote(n: map.n, cap: cap) { fig.add(.text(x: 20, y: 40, note + "; colour: share kept", size: 10, color: .grey)) }
        colorBar(&fig, x: mapsWidth + 10, y: 80, height: 180, low: pooled ? "0" : fixed(log10(1 / Double(map.n)) - 2, 1),
                 high: pooled ? "1" : "0", title: pooled ? "share kept" : "log10 P")
        for h in 0..<heads {
            let x = 30 + Double(h % cols) * (side + gap), y = 60 + Double(h / cols) * (side + gap)
            drawMap(&fig, map: map, mask: mask, head: h, x: x, y: y, side: side, frames: false, maxCells: cap)
            fig.add(.text(x: x, y: y - 5, "head \(headIndices?[h] ?? h): \(percent(mask.statistics.density[h]))", size: 11))
        }
        return fig
    }
}
