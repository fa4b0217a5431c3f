import NablaCore

extension Renderer {
    /// The fields of the status line from most to least verbose; the first that fits wins.
    func statusVariants() -> [String] {
        let s = state
        let grid = s.input.map { "\($0.grid)" + ($0.text.map { " + text \($0.tokens)" } ?? "") }
            ?? s.lazyInput.map { "\($0.grid)" } ?? "-"
        let heads = s.heads
        let head = heads > 0 ? s.headLabel : "-"
        let sta = s.sta.map(\.description) ?? "off"
        // The overall density waits for the other heads' re-cut.
        let density = s.pendingCut != nil ? String(g.ellipsis) : s.mask.map { percent($0.statistics.overallDensity) } ?? "-"
        let thr = "thr " + fixed(s.threshold, 2)
        let sep = g.separator
        // A grid the block does not divide: the edge mode beside the block.
        let edge = s.map.flatMap { $0.blocks.edgeText == nil ? nil : " \($0.blocks.edge)" } ?? ""
        let full = [s.inputName, grid, "block \(s.block)\(edge)", thr, "head \(head)", "STA \(sta)", "density \(density)", "? help"]
        return [
            full.joined(separator: sep),
            ([s.inputName] + full.dropFirst(2)).joined(separator: sep),
            ([s.inputName] + ["\(s.block)\(edge)", thr, "head \(head)", "STA \(sta)", "density \(density)", "? help"]).joined(separator: " "),
            ["\(s.block)\(edge)", thr, "head \(head)", "STA \(sta)", "density \(density)", "? help"].joined(separator: " "),
            ["\(s.block)\(edge)", thr, "h \(head)", "sta \(sta)", density, "?"].joined(separator: " "),
        ]
    }

    /// The last row: the prompt or a message on the left, the settings on the right.
    mutating func drawStatus() {
        let rect = layout.status
        let base = theme.statusStyle
        screen.fill(rect, with: Cell(" ", base))
        var left = ""
        var leftStyle = base
        switch state.mode {
        case .prompt(let text):
            left = ":" + text
        default:
            let spinner = String(g.spinner[state.spinner % g.spinner.count])
            if let job = state.job {
                // The job, its stage and how far along, and how to stop it.
                left = job.statusText + (job.isCancellable ? " (Esc cancels)" : "") + " " + spinner
                leftStyle = Style(.accent, base.background, base.attributes.union(.bold))
            } else if let pending = state.pendingCut {
                left = "cutting the other heads \(pending.headsCut)/\(state.heads) " + spinner
                leftStyle = Style(.accent, base.background, base.attributes)
            }
            if let message = state.message {
                left = message.text
                if case .error = message {
                    left = "error: " + left
                    leftStyle = Style(.error, base.background, base.attributes.union(.bold))
                } else {
                    leftStyle = Style(.accent, base.background, base.attributes)
                }
            }
        }
        // The message or prompt first: the fields get more compact to leave it room.
        let want = left.isEmpty ? 0 : left.count + 3
        let variants = statusVariants()
        let fields = variants.first { $0.count + 2 + want <= rect.width } ?? variants.last!
        let fieldsX = max(rect.maxX - fields.count - 1, rect.x)
        screen.put(fields, in: Rect(x: fieldsX, y: rect.y, width: rect.maxX - fieldsX, height: 1), style: base,
                   ellipsis: g.ellipsis)
        if !left.isEmpty {
            let room = Rect(x: rect.x + 1, y: rect.y, width: max(fieldsX - rect.x - 2, 0), height: 1)
            if case .prompt(let text) = state.mode {
                // The cursor stays in view: a long line scrolls so that it shows.
                let line = Array(left)
                let cursor = 1 + min(max(state.promptCursor, 0), text.count)  // after the ':'
                let width = max(room.width - 1, 1)
                let start = max(0, cursor - width + 1)
                let shown = String(line[min(start, line.count)..<min(start + width, line.count)])
                screen.put(shown, in: room, style: leftStyle, ellipsis: g.ellipsis)
                let x = room.x + cursor - start
                if x < room.maxX {
                    let under = cursor < line.count ? line[cursor] : " "
                    screen.set(x, rect.y, Cell(under, Style(.normal, .normal, .reverse)))
                }
            } else if left.count <= room.width {
                screen.put(left, in: room, style: leftStyle, ellipsis: g.ellipsis)
            } else {
                drawLongMessage(left, style: leftStyle)
            }
        }
    }

    /// A message too long for the status line, wrapped in full on the rows above it, so
    /// that the part saying what to do is never cut off.
    mutating func drawLongMessage(_ text: String, style: Style) {
        let rect = layout.status
        let lines = Renderer.wrap(text, width: max(rect.width - 2, 1)).flatMap { line in
            // A word longer than the row is cut into row-sized pieces.
            stride(from: 0, to: line.count, by: max(rect.width - 2, 1)).map { start in
                String(line.dropFirst(start).prefix(max(rect.width - 2, 1)))
            }
        }
        let top = max(rect.y - lines.count + 1, 0)
        for (i, line) in lines.enumerated() where top + i <= rect.y {
            let row = Rect(x: rect.x, y: top + i, width: rect.width, height: 1)
            screen.fill(row, with: Cell(" ", style))
            screen.put(line, in: Rect(x: rect.x + 1, y: top + i, width: rect.width - 2, height: 1), style: style)
        }
    }

    /// The help box: every binding of the keymap, the prompt commands, the mouse.
    mutating func drawHelp() {
        let lines = state.helpLines
        let bounds = Rect(x: 0, y: 0, width: screen.size.width, height: screen.size.height - 1)
        let innerHeight = max(bounds.height - 2, 1)
        // As many columns as the lines need at this height, each as wide as its widest line.
        func widths(rows: Int) -> [Int] {
            stride(from: 0, to: lines.count, by: rows).map { start in
                lines[start..<min(start + rows, lines.count)].map(\.text.count).max() ?? 0
            }
        }
        var rows = min(innerHeight, lines.count)
        var columnWidths = widths(rows: rows)
        while columnWidths.reduce(0, +) + 3 * columnWidths.count + 1 > bounds.width && columnWidths.count > 1 {
            columnWidths.removeLast()
        }
        rows = min(rows, max(1, (lines.count + columnWidths.count - 1) / columnWidths.count))
        columnWidths = Array(widths(rows: rows).prefix(columnWidths.count))
        let columns = columnWidths.count
        let width = min(bounds.width, columnWidths.reduce(0, +) + 3 * columns + 1)
        let height = rows + 2
        let box = Rect(x: (bounds.width - width) / 2, y: (bounds.height - height) / 2, width: width, height: height)
        screen.fill(box, with: .blank)
        let border = Style(.accent)
        for x in box.x..<box.maxX {
            screen.set(x, box.y, Cell(g.horizontal, border))
            screen.set(x, box.maxY - 1, Cell(g.horizontal, border))
        }
        for y in box.y..<box.maxY {
            screen.set(box.x, y, Cell(g.vertical, border))
            screen.set(box.maxX - 1, y, Cell(g.vertical, border))
        }
        screen.set(box.x, box.y, Cell(g.topLeft, border))
        screen.set(box.maxX - 1, box.y, Cell(g.topRight, border))
        screen.set(box.x, box.maxY - 1, Cell(g.bottomLeft, border))
        screen.set(box.maxX - 1, box.maxY - 1, Cell(g.bottomRight, border))
        screen.put(" nabla help ", x: box.x + 2, y: box.y, style: titleStyle, clip: box)
        let inner = Rect(x: box.x + 1, y: box.y + 1, width: box.width - 2, height: rows)
        let shown = rows * columns
        // Too many lines for the box: it scrolls (j k, PgUp PgDn, Home End), the last slot
        // saying how many lines are below.
        let overflow = lines.count > shown
        let maxOffset = overflow ? lines.count - (shown - 1) : 0
        let offset = min(max(state.helpOffset, 0), maxOffset)
        let footer = overflow ? " \(offset + 1)-\(min(offset + shown - 1, lines.count))/\(lines.count) · j k scroll · Esc "
            : " ? or <Esc> closes "
        screen.put(footer, x: max(box.maxX - footer.count - 2, box.x + 1), y: box.maxY - 1, style: mutedStyle, clip: box)
        let columnX = columnWidths.indices.map { c in inner.x + 1 + columnWidths[..<c].reduce(0, +) + 3 * c }
        for (i, line) in lines.dropFirst(offset).prefix(shown).enumerated() {
            let col = i / rows, row = i % rows
            var text = line.text
            let below = lines.count - offset - (shown - 1)
            if overflow && i == shown - 1 && below > 0 { text = "\(g.ellipsis) \(below) more below (j, PgDn)" }
            let cell = Rect(x: columnX[col], y: inner.y + row, width: columnWidths[col] + 1, height: 1)
            screen.put(text, in: Rect(x: cell.x, y: cell.y, width: min(cell.width, inner.maxX - cell.x), height: 1),
                       style: line.header ? titleStyle : .plain, ellipsis: g.ellipsis)
        }
    }
}
