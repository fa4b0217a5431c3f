import Foundation
import NablaCore

extension Renderer {
    /// The follow (row) view: the cursor's query block through NABLA's stages. Left, the
    /// video's frames small (the latent preview, or a plain tile grid for Q/K files) with
    /// the query tile outlined and the kept key tiles on every frame; right, the row as
    /// bars (logits, probabilities, then sorted with the running sum, the threshold line
    /// and the cut), and the row's figures. `f` again steps through the stages.
    mutating func drawFollow(_ view: FollowView) {
        guard let map = state.map else { return }
        let head = state.currentHead
        let a = state.cursor.query
        let trace = RowTrace(map: map, head: head, query: a, settings: state.settings)
        let c = map.blocks.coordinates(of: a)
        let body = Rect(x: 0, y: 0, width: screen.size.width, height: max(screen.size.height - 1, 0))
        let stage = view.stage
        let title = " follow · head \(state.headIndex(head)) · query block #\(a) (t \(c.t), i \(c.i), j \(c.j)) · stage \(stage.rawValue + 1)/7 \(stage.name)"
            + " · ←→↑↓ tile · K J frame · f stage · Esc back"
        screen.put(title, in: body.row(0), style: titleStyle, ellipsis: g.ellipsis)
        screen.put(stage.caption, in: body.row(1), column: 1, style: accentStyle, ellipsis: g.ellipsis)
        let rest = Rect(x: body.x, y: body.y + 2, width: body.width, height: max(body.height - 2, 0))
        let (left, right) = rest.splitLeft(layout.mapPanel.width)
        // `t`: the kept tiles shaded by the true block mass (the timing panel's, once computed).
        let mass = state.showTrueMass ? state.attention.flatMap { $0.head == head ? $0.shownMass : nil } : nil
        drawFollowVideo(trace, stage: stage, trueMass: mass,
                        in: Rect(x: left.x, y: left.y, width: max(left.width - 1, 0), height: left.height))
        drawRowChart(trace, stage: stage, trueMass: mass,
                     in: Rect(x: right.x + 1, y: right.y, width: max(right.width - 1, 0), height: right.height))
    }

    /// What a key tile shows at `stage`: 0 not (yet) kept, 1 kept by the cut, 2 by STA only.
    static func tileKind(_ trace: RowTrace, _ b: Int, stage: FollowView.Stage) -> Int {
        if stage.rawValue >= FollowView.Stage.cut.rawValue && trace.cutKept[b] { return 1 }
        if stage.rawValue >= FollowView.Stage.sta.rawValue && trace.kept[b] { return 2 }
        return 0
    }

    /// Every frame slab as a small picture of `hb x wb` tiles: grey video (or dark tiles
    /// without a preview), kept tiles coloured by their pooled probability (or, with
    /// `trueMass`, slot 0 of the head's true block mass), STA-only tiles in their own
    /// colour, the query tile in the cursor colour.
    mutating func drawFollowVideo(_ trace: RowTrace, stage: FollowView.Stage, trueMass: TrueBlockMass?, in area: Rect) {
        guard let map = state.map, !area.isEmpty else { return }
        let blocks = map.blocks
        let pr = theme.pixelRowsPerCell, cx = theme.cellsPerPixel
        // The largest tile (in pixels) at which every frame fits, in as many columns as fit.
        var scale = 0, columns = 1
        for s in stride(from: 8, through: 1, by: -1) {
            let fw = blocks.wb * s * cx, fh = (blocks.hb * s + pr - 1) / pr
            let cols = max(1, (area.width + 1) / (fw + 1))
            let rows = (blocks.tb + cols - 1) / cols
            if fw <= area.width && rows * (fh + 1) <= area.height {
                scale = s
                columns = cols
                break
            }
        }
        let first: Int, shown: Int
        if scale == 0 {
            // Not every frame fits at one pixel per tile: the frames around the query's.
            scale = 1
            let fw = blocks.wb * cx, fh = (blocks.hb + pr - 1) / pr
            columns = max(1, (area.width + 1) / (fw + 1))
            let fit = max(1, columns * max(1, area.height / (fh + 1)))
            shown = min(blocks.tb, fit)
            first = min(max(trace.query / blocks.blocksPerSlab - shown / 2, 0), blocks.tb - shown)
        } else {
            first = 0
            shown = blocks.tb
        }
        let fw = blocks.wb * scale, fh = blocks.hb * scale
        let cellsTall = (fh + pr - 1) / pr
        let preview = state.input?.preview
        let lo = PixelGrid.logFloor(n: map.n)
        for f in 0..<shown {
            let t = first + f
            let x0 = area.x + (f % columns) * (fw * cx + 1), y0 = area.y + (f / columns) * (cellsTall + 1)
            guard y0 + cellsTall < area.maxY + 1 else { break }
            screen.put("t \(t)", in: Rect(x: x0, y: y0, width: fw * cx, height: 1),
                       style: t * blocks.blocksPerSlab <= trace.query && trace.query < (t + 1) * blocks.blocksPerSlab ? accentStyle : mutedStyle)
            var roles: [ColorRole] = [], monos: [Cell] = []
            roles.reserveCapacity(fw * fh)
            for py in 0..<fh {
                for px in 0..<fw {
                    let i = py / scale, j = px / scale
                    let b = (t * blocks.hb + i) * blocks.wb + j
                    let kind = Renderer.tileKind(trace, b, stage: stage)
                    let isQuery = b == trace.query
                    let edge = scale > 2 && (px % scale == 0 || py % scale == 0 || px % scale == scale - 1 || py % scale == scale - 1)
                    var role: ColorRole
                    var mono: Cell
                    if isQuery && (scale <= 2 || edge) {
                        role = .cursor
                        mono = Cell(g.cursorPixel, Style(.normal, .normal, [.bold, .reverse]))
                    } else if kind == 1 {
                        let p = trueMass?.mass(slot: 0, query: trace.query, key: b) ?? trace.probs[b]
                        let v = p > 0 ? min(max((log10(p) - lo) / -lo, 0), 1) : 0
                        role = .kept(Theme.rampLevel(0.35 + 0.65 * v))
                        mono = Cell(g.full, Style(.normal, .normal, .bold))
                    } else if kind == 2 {
                        role = .staOnly
                        mono = Cell("s", Style(.normal, .normal, .bold))
                    } else if let preview {
                        // The video at this pixel: tokens of frame t * bt under it, averaged.
                        let ty0 = i * blocks.block.bh + (py % scale) * blocks.block.bh / scale
                        let tx0 = j * blocks.block.bw + (px % scale) * blocks.block.bw / scale
                        let ty1 = max(ty0 + 1, i * blocks.block.bh + (py % scale + 1) * blocks.block.bh / scale)
                        let tx1 = max(tx0 + 1, j * blocks.block.bw + (px % scale + 1) * blocks.block.bw / scale)
                        var sum = 0.0
                        for y in ty0..<ty1 { for x in tx0..<tx1 { sum += Double(preview.value(t: t * blocks.block.bt, y: y, x: x)) } }
                        let v = sum / Double((ty1 - ty0) * (tx1 - tx0))
                        role = .grey(Theme.greyLevel(v * 0.6))
                        mono = Cell(g.greyShades[min(g.greyShades.count - 1, Int(v * 0.6 * Double(g.greyShades.count)))])
                    } else {
                        role = .dropped(UInt8((i + j) % 2))
                        mono = Cell(g.droppedShades[0])
                    }
                    roles.append(role)
                    monos.append(mono)
                }
            }
            drawRolePixels(width: fw, height: fh, in: Rect(x: x0, y: y0 + 1, width: fw * cx, height: cellsTall),
                           roles: roles, monos: monos)
        }
    }

    /// The row as bars, one column per key block (or per group of blocks when the row is
    /// wider than the panel): map and softmax in key order; from sort on, descending, with
    /// the running sum (`•`), the threshold line and the cut; then the figures.
    mutating func drawRowChart(_ trace: RowTrace, stage: FollowView.Stage, trueMass: TrueBlockMass?, in rect: Rect) {
        guard !rect.isEmpty else { return }
        let n = trace.probs.count
        let sorted = stage.rawValue >= FollowView.Stage.sort.rawValue
        let what: String
        switch stage {
        case .pool: what = "pooled: one query vector against \(n) key vectors"
        case .map: what = "logits − max, key blocks in order"
        case .softmax: what = "probabilities, key blocks in order"
        // Sorted stages share the 0-1 axis between the running sum and thr; the bars are
        // P over the row's largest P, and the heading says so (issue 20, item 2).
        default: what = "bars P/\(String(format: "%.3g", trace.probs.max() ?? 0)) sorted · • sum · axis 0–1"
        }
        let shownTop = min(n, max(2 * trace.keptCount, 32))
        heading(what, in: rect)
        let figures = 5
        let chart = Rect(x: rect.x, y: rect.y + 1, width: rect.width, height: max(rect.height - 1 - figures, 0))
        // Sorted rows show their head: the kept blocks and as many again (at least 32).
        let span = sorted ? min(n, max(2 * trace.keptCount, 32)) : n
        let cols = min(span, max(chart.width - 6, 1))
        let per = (span + cols - 1) / cols
        let columns = (span + per - 1) / per
        let h = chart.height
        if stage != .pool && h >= 3 {
            // Values per column: bar height in [0, 1], the running sum at the column's end.
            let lowest = trace.logits.filter { $0.isFinite }.min() ?? 0
            let top = trace.probs.max() ?? 1
            let yAxis = Rect(x: chart.x, y: chart.y, width: 5, height: h)
            screen.put(stage == .map ? "  0" : (sorted ? "  1" : fixed(top, 2)), in: yAxis, row: 0, style: mutedStyle)
            screen.put(stage == .map ? fixed(lowest, 0).leftPadded(to: 3) : "  0", in: yAxis, row: h - 1, style: mutedStyle)
            let thrRow = h - 1 - Int((trace.threshold * Double(h - 1)).rounded())
            let cutRank = trace.cutCount
            for col in 0..<columns {
                let ranks = (col * per)..<min((col + 1) * per, span)
                let blocksHere = ranks.map { sorted ? trace.order[$0] : $0 }
                let value: Double
                switch stage {
                case .map: value = lowest < 0 ? blocksHere.map { 1 - trace.logits[$0] / lowest }.max()! : 1
                case .softmax: value = blocksHere.map { trace.probs[$0] }.max()! / top
                default: value = blocksHere.map { trace.probs[$0] }.max()! / top
                }
                let kinds = blocksHere.map { Renderer.tileKind(trace, $0, stage: stage) }
                let kind = kinds.contains(1) ? 1 : (kinds.contains(2) ? 2 : 0)
                let barStyle: Style = kind == 1 ? Style(.kept(24), .normal, .bold) : kind == 2 ? Style(.staOnly, .normal, .bold)
                    : Style(stage.rawValue >= FollowView.Stage.cut.rawValue ? .muted : .accent)
                let x = chart.x + 6 + col
                let eighths = Int((value * Double(h * 8)).rounded())
                for r in 0..<h {
                    let fromBottom = h - 1 - r
                    let fill = min(max(eighths - fromBottom * 8, 0), 8)
                    var cell = fill > 0 ? Cell(fill == 8 ? g.full : verticalEighth(fill), barStyle) : Cell(" ")
                    if sorted && r == thrRow && fill < 8 && stage.rawValue >= FollowView.Stage.cut.rawValue {
                        cell = Cell(g.horizontal, Style(.error))
                    }
                    screen.set(x, chart.y + r, cell)
                }
                if sorted {
                    let s = trace.runningSum[ranks.upperBound - 1]
                    let r = h - 1 - Int((s * Double(h - 1)).rounded())
                    screen.set(x, chart.y + r, Cell("•", Style(.title, .normal, .bold)))
                }
                if stage.rawValue >= FollowView.Stage.cut.rawValue && sorted && ranks.contains(cutRank - 1) {
                    screen.set(x, chart.y + h - 1, Cell(g.markDown, Style(.error, .normal, .bold)))
                }
            }
            if sorted && stage.rawValue >= FollowView.Stage.cut.rawValue {
                screen.put("thr", in: yAxis, row: thrRow, column: 2, style: Style(.error))
            }
        }
        // Figures: the cut, STA, and the row's totals (the numbers `nabla mask` counts).
        let fy = chart.maxY
        let fig = Rect(x: rect.x, y: fy, width: rect.width, height: figures)
        var lines: [(String, Style)] = []
        var first = "query block #\(trace.query) of \(n) · thr \(fixed(trace.threshold, 2))"
        if sorted && shownTop < n { first += " · top \(shownTop) shown" }
        lines.append((first, .plain))
        if stage.rawValue >= FollowView.Stage.cut.rawValue {
            lines.append(("cut keeps \(trace.cutCount) blocks holding mass \(fixed(trace.cutMass, 4)) (≥ thr)", Style(.kept(24), .normal, .bold)))
        } else {
            lines.append(("max P \(String(format: "%.3e", trace.probs.max() ?? 0)) · uniform would be \(String(format: "%.3e", 1 / Double(n)))", .plain))
        }
        if stage.rawValue >= FollowView.Stage.sta.rawValue {
            let sta = state.sta.map { "STA \($0) adds \(trace.staOnlyCount) blocks" } ?? "STA off (s turns it on)"
            lines.append((sta, Style(.staOnly, .normal, .bold)))
        }
        if stage == .final {
            lines.append(("kept \(trace.keptCount) of \(n) · mass \(fixed(trace.mass, 4))", Style(.title, .normal, .bold)))
        }
        if state.showTrueMass {
            if let trueMass {
                let kept = (0..<n).filter { trace.kept[$0] }.reduce(0.0) { $0 + trueMass.mass(slot: 0, query: trace.query, key: $1) }
                lines.append(("true block mass kept \(fixed(kept, 4)) (t: tiles)", accentStyle))
            } else {
                lines.append(("true block mass (t): computing…", accentStyle))
            }
        }
        for (i, line) in lines.enumerated() where i < fig.height {
            screen.put(line.0, in: fig, row: i, style: line.1, ellipsis: g.ellipsis)
        }
    }

    /// `▁▂▃▄▅▆▇` for 1 to 7 eighths of a cell (ASCII look-alikes in the ASCII set).
    func verticalEighth(_ e: Int) -> Character {
        let bars: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇"]
        return g.unicode ? bars[max(0, min(6, e - 1))] : (e >= 4 ? "#" : "_")
    }
}
