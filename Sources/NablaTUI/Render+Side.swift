import Foundation
import NablaCore

extension Renderer {
    mutating func drawSide() {
        let l = layout
        guard !l.side.isEmpty else { return }
        // One blank column between the map panel and the side column.
        let inset = { (r: Rect) in Rect(x: r.x + 1, y: r.y, width: max(r.width - 1, 0), height: r.height) }
        drawInfo(inset(l.info))
        drawTiming(inset(l.timing))
        drawCoverage(inset(l.coverage))
        drawPreview(inset(l.preview))
    }

    /// The selected block: coordinates, probability, kept or not, and its row's totals.
    mutating func drawInfo(_ rect: Rect) {
        guard !rect.isEmpty else { return }
        heading("cursor", in: rect)
        guard let map = state.map, let mask = state.headMask(state.currentHead) else { return }
        let head = state.currentHead
        let a = state.cursor.query, b = state.cursor.key
        func coords(_ n: Int) -> String {
            let c = map.blocks.coordinates(of: n)
            // A partial edge block says how many real tokens it holds.
            let real = map.blocks.tokens(inBlock: n), full = map.blocks.block.tokens
            return "#\(n)".rightPadded(to: 6) + " t \(c.t)  i \(c.i)  j \(c.j)" + (real < full ? "  \(real)/\(full) tok" : "")
        }
        screen.put("query " + coords(a), in: rect, row: 1, style: .plain, ellipsis: g.ellipsis)
        screen.put("key   " + coords(b), in: rect, row: 2, style: .plain, ellipsis: g.ellipsis)
        let p = map.probability(head: head, query: a, key: b)
        let kept = mask.isKept(query: a, key: b)
        let x = screen.put("P " + String(format: "%.3e", p) + "  ", in: rect, row: 3, ellipsis: g.ellipsis)
        screen.put(kept ? "kept" : "dropped", in: Rect(x: x, y: rect.y + 3, width: rect.maxX - x, height: 1),
                   style: kept ? Style(.accent, .normal, .bold) : mutedStyle)
        var count = 0
        var mass = 0.0
        for k in 0..<map.n where mask.isKept(query: a, key: k) {
            count += 1
            mass += map.probability(head: head, query: a, key: k)
        }
        screen.put("row \(count)/\(map.n) kept · mass " + fixed(mass, 3), in: rect, row: 4, ellipsis: g.ellipsis)
    }

    /// Stage times of the last recomputation, then the current head's attention: sparse
    /// and dense time, the speed-up against the ideal 1/density, the error of sparse
    /// against dense (with V) and the recall of the mask with its oracle; then the kernel
    /// level in use and dense attention's rate as a share of that level's measured FP32
    /// peak (`4 D B^2 N^2` flops for the head, as `nabla bench` counts them).
    mutating func drawTiming(_ rect: Rect) {
        guard !rect.isEmpty else { return }
        heading("time of last recompute, ms", in: rect)
        let times = state.times
        func entry(_ name: String) -> String {
            let value = times[name].map { fixed($0, 2) } ?? "-"
            return name.rightPadded(to: 5) + value.leftPadded(to: 8)
        }
        // Map stages on the left, the head on screen's cut on the right; under the map
        // stages, how far the other heads' re-cut is while it runs.
        var left = [entry("pool"), entry("map"), "".rightPadded(to: 13)]
        if let pending = state.pendingCut {
            left[2] = "\(pending.headsCut)/\(state.heads) heads".rightPadded(to: 13)
        }
        let right = ["cut", "sta", "stats"]
        for i in 0..<3 {
            screen.put(left[i] + "  " + entry(right[i]), in: rect, row: i + 1, ellipsis: g.ellipsis)
        }
        guard rect.height >= ScreenLayout.timingHeight, let panel = state.attention else { return }
        var title = "attention, head \(state.headIndex(panel.head)), ms"
        if state.attentionJob != nil || state.pendingCut != nil { title += " " + String(g.spinner[state.spinner % g.spinner.count]) }
        heading(title, in: Rect(x: rect.x, y: rect.y + 4, width: rect.width, height: rect.height - 4))
        // Pinned times (tests, documentation) replace the measured ones.
        let sparseMs = state.pinnedTimes.map { $0["sparse"] } ?? panel.sparseMs
        let denseMs = state.pinnedTimes.map { $0["dense"] } ?? panel.denseMs
        func ms(_ x: Double?) -> String {
            guard panel.hasValues else { return "no V" }
            return x.map { fixed($0, 2) } ?? "…"
        }
        screen.put("sparse".rightPadded(to: 7) + ms(sparseMs).leftPadded(to: 8) + "  " + "dense".rightPadded(to: 6)
                   + ms(denseMs).leftPadded(to: 9), in: rect, row: 5, ellipsis: g.ellipsis)
        var speed = "speed-up " + (sparseMs.flatMap { s in denseMs.map { d in fixed(d / max(s, 1e-9), 2) + "x" } } ?? "–")
        if let density = panel.density, density > 0 { speed += "  ideal " + fixed(1 / density, 2) + "x" }
        screen.put(speed, in: rect, row: 6, ellipsis: g.ellipsis)
        var quality = panel.hasValues ? "error " + (panel.error.map { String(format: "%.1e", $0) } ?? "…") + "  " : ""
        if let recall = panel.recall {
            quality += "recall " + fixed(recall.recall(slot: 0), 3) + " / oracle " + fixed(recall.oracle(slot: 0), 3)
        } else if let e = panel.estimate, e.isExact {
            quality += "recall " + fixed(e.recall.value, 3) + " / oracle " + fixed(e.oracle.value, 3)
        } else if let e = panel.estimate {
            // The sampled estimate and its 95% interval, until the exact value is back (the
            // row's width goes to it while the error is still pending).
            if panel.error == nil { quality = "" }
            let digits = e.recall.halfWidth < 0.01 ? 3 : 2
            quality += "recall " + fixed(e.recall.value, digits) + " +- " + (e.recall.ci95 != nil ? fixed(e.recall.halfWidth, digits) : "?")
                + " (\(e.sampled)/\(e.total) blocks)"
        } else {
            quality += "recall …"
        }
        screen.put(quality, in: rect, row: 7, ellipsis: g.ellipsis)
        let kernelName = state.pinnedKernels?.name ?? KernelVariant.active.name
        var kernels = "kernels " + kernelName
        if let peak = state.pinnedKernels?.peakFlops ?? panel.peakFlops, let denseMs, denseMs > 0,
           let headDim = state.input?.headDim ?? state.lazyInput?.headDim, let map = state.map {
            let b = Double(map.blocks.block.tokens), n = Double(map.n)
            let flops = 4 * Double(headDim) * b * b * n * n
            kernels += " · dense " + fixed(100 * flops / (denseMs * 1e-3) / peak, 2) + "% of FMA peak"
        }
        screen.put(kernels, in: rect, row: 8, ellipsis: g.ellipsis)
    }

    /// The Tb x Tb frame coverage of the current head as a heatmap (values when each cell
    /// gets three columns), and per query frame the share of key blocks kept as a bar.
    mutating func drawCoverage(_ rect: Rect) {
        guard !rect.isEmpty, let map = state.map, let mask = state.headMask(state.currentHead) else { return }
        let tb = mask.mask.statistics.slabs
        let head = state.currentHead
        let perSlab = map.blocks.blocksPerSlab
        let ta = state.cursor.query / perSlab, tk = state.cursor.key / perSlab
        let rowsAvailable = rect.height - 1
        let first = min(max(ta - rowsAvailable / 2, 0), max(tb - rowsAvailable, 0))
        let shown = min(tb, rowsAvailable)
        // Each query frame's share of key blocks kept; bars are scaled to the largest share
        // of the head (so that shares of a few percent still differ), and the title says so.
        let shares = (0..<tb).map { a in (0..<tb).reduce(0.0) { $0 + mask.coverage(querySlab: a, keySlab: $1) } / Double(max(tb, 1)) }
        let barScale = shares.max() ?? 0
        let cellWidth = min(3, max(1, (rect.width - 13) / max(tb, 1)))
        let values = cellWidth >= 3
        // The cells' numbers are percents of the frame pair's block pairs: the title says so.
        var title = "frame coverage\(values ? " %" : ""), head \(state.headIndex(head))"
        if shown < tb { title += " (t \(first)–\(first + shown - 1) of \(tb))" }
        title += "; bars 0–\(Renderer.sharePercent(barScale))"
        heading(title, in: rect)
        for r in 0..<shown {
            let a = first + r
            let y = rect.y + 1 + r
            var x = rect.x
            x = screen.put(String(a).leftPadded(to: 3) + " ", x: x, y: y, style: a == ta ? accentStyle : mutedStyle, clip: rect)
            let rowShare = shares[a]
            for b in 0..<tb {
                let v = mask.coverage(querySlab: a, keySlab: b)
                let selected = a == ta && b == tk
                var text: String
                if values {
                    // Percent; a full pair shows as two full blocks (three digits would run together).
                    text = v == 0 ? "·" : v >= 1 ? String(repeating: g.barEighths[7], count: 2)
                        : String(max(1, min(99, Int((v * 100).rounded()))))
                    text = text.leftPadded(to: cellWidth)
                } else if theme.mode.hasColor {
                    text = String(repeating: " ", count: cellWidth)
                } else {
                    let shade = v <= 0 ? g.shareShades[0] : g.shareShades[1 + min(3, Int(v * 4 - 1e-9))]
                    text = String(repeating: shade, count: cellWidth)
                }
                var style: Style
                if theme.mode.hasColor {
                    let bg: ColorRole = v > 0 ? .kept(Theme.rampLevel(v)) : .dropped(0)
                    let ink: ColorRole = v > 0.55 ? .ink : .title
                    style = Style(ink, bg, selected ? [.bold, .underline] : [])
                } else {
                    style = Style(.normal, .normal, selected ? [.reverse, .bold] : [])
                }
                x = screen.put(text, x: x, y: y, style: style, clip: rect)
            }
            // Bar (scaled to the head's largest share) and percentage.
            let barWidth = rect.maxX - x - 7
            x += 1
            if barWidth >= 2 {
                let eighths = barScale > 0 ? Int((rowShare / barScale * Double(barWidth * 8)).rounded()) : 0
                let full = eighths / 8, part = eighths % 8
                var bar = String(repeating: g.barEighths[7], count: full)
                if part > 0 && full < barWidth { bar.append(g.barEighths[part - 1]) }
                screen.put(bar.rightPadded(to: barWidth), x: x, y: y, style: accentStyle, clip: rect)
                x += barWidth
            }
            screen.put(Renderer.sharePercent(rowShare).leftPadded(to: 6), x: x, y: y, style: .plain, clip: rect)
        }
    }

    /// The frame of the cursor's query block in grey, with the query block outlined.
    mutating func drawPreview(_ rect: Rect) {
        guard !rect.isEmpty, let input = state.input, let preview = input.preview, let map = state.map else { return }
        let c = map.blocks.coordinates(of: state.cursor.query)
        let block = map.blocks.block
        let frame = min(c.t * block.bt, preview.grid.t - 1)
        heading("frame \(frame), query block outlined", in: rect)
        let pr = theme.pixelRowsPerCell, cx = theme.cellsPerPixel
        let area = Rect(x: rect.x, y: rect.y + 1, width: rect.width, height: rect.height - 1)
        let gh = preview.grid.h, gw = preview.grid.w
        let pw = area.width / cx, ph = area.height * pr
        guard pw > 0, ph > 0 else { return }
        // Tokens per pixel (pooling by the mean) or pixels per token.
        let magnify = gw <= pw && gh <= ph ? max(1, min(pw / gw, ph / gh)) : 1
        let pool = magnify > 1 ? 1 : max(1, max((gw + pw - 1) / pw, (gh + ph - 1) / ph))
        let width = magnify > 1 ? gw * magnify : (gw + pool - 1) / pool
        let height = magnify > 1 ? gh * magnify : (gh + pool - 1) / pool
        func tokens(_ p: Int, _ limit: Int) -> Range<Int> {
            magnify > 1 ? (p / magnify)..<(p / magnify + 1) : (p * pool)..<min(p * pool + pool, limit)
        }
        func pixel(_ token: Int) -> Int { magnify > 1 ? token * magnify : token / pool }
        // The block's outline in pixels, inclusive.
        let y0 = pixel(c.i * block.bh), x0 = pixel(c.j * block.bw)
        let y1 = magnify > 1 ? pixel((c.i + 1) * block.bh) - 1 : ((c.i + 1) * block.bh - 1) / pool
        let x1 = magnify > 1 ? pixel((c.j + 1) * block.bw) - 1 : ((c.j + 1) * block.bw - 1) / pool
        func onOutline(_ x: Int, _ y: Int) -> Bool {
            (x >= x0 && x <= x1 && (y == y0 || y == y1)) || (y >= y0 && y <= y1 && (x == x0 || x == x1))
        }
        func value(_ x: Int, _ y: Int) -> Double {
            var sum = 0.0
            var count = 0
            for ty in tokens(y, gh) { for tx in tokens(x, gw) {
                sum += Double(preview.value(t: frame, y: ty, x: tx))
                count += 1
            } }
            return count > 0 ? sum / Double(count) : 0
        }
        // The video's colours where known (the sample), else grey levels (issue 20, item 12).
        func role(_ x: Int, _ y: Int) -> ColorRole {
            guard preview.rgb != nil else { return .grey(Theme.greyLevel(value(x, y))) }
            var r = 0.0, gr = 0.0, b = 0.0, count = 0.0
            for ty in tokens(y, gh) { for tx in tokens(x, gw) {
                if let c = preview.color(t: frame, y: ty, x: tx) { r += Double(c.r); gr += Double(c.g); b += Double(c.b); count += 1 }
            } }
            guard count > 0 else { return .grey(Theme.greyLevel(value(x, y))) }
            return .video(r: Float(r / count), g: Float(gr / count), b: Float(b / count))
        }
        func greyCell(_ x: Int, _ y: Int) -> Cell {
            let v = value(x, y)
            if theme.mode.hasColor { return Cell(" ", foreground: .normal, background: role(x, y)) }
            return Cell(g.greyShades[min(g.greyShades.count - 1, Int(v * Double(g.greyShades.count)))])
        }
        let outlineStyle = Style(theme.mode.hasColor ? .outline : .normal, .normal, .bold)
        for row in 0..<min(area.height, (height + pr - 1) / pr) {
            for x in 0..<min(width, pw) {
                let y = row * pr
                var cells: [Cell]
                if theme.halfBlockPixels {
                    let top: ColorRole = onOutline(x, y) ? .outline : role(x, y)
                    let bottom: ColorRole = y + 1 >= height ? .normal
                        : (onOutline(x, y + 1) ? .outline : role(x, y + 1))
                    cells = [Cell(g.upperHalf, foreground: top, background: bottom)]
                } else if onOutline(x, y) {
                    // Box drawing over the pixels on the block's border; a pixel is `cx` cells.
                    let edge = y == y0 || y == y1
                    let corner: Character = y == y0 ? (x == x0 ? g.topLeft : (x == x1 ? g.topRight : g.horizontal))
                        : y == y1 ? (x == x0 ? g.bottomLeft : (x == x1 ? g.bottomRight : g.horizontal)) : g.vertical
                    cells = [Cell(corner, outlineStyle)]
                    for _ in 1..<max(cx, 1) {
                        cells.append(edge && x < x1 ? Cell(g.horizontal, outlineStyle) : greyCell(x, y))
                    }
                } else {
                    cells = Array(repeating: greyCell(x, y), count: cx)
                }
                for (i, cell) in cells.enumerated() { screen.set(area.x + x * cx + i, area.y + row, cell) }
            }
        }
    }

    /// A share as a percentage: one decimal below 10% (so 2.4% and 2.6% differ), whole above.
    static func sharePercent(_ share: Double) -> String {
        share < 0.0995 ? percent(share) : String(Int((share * 100).rounded())) + "%"
    }
}
