import CNcursesw
import NablaTUI

/// Draws Screens with ncurses, touching only the cells that changed since the last one,
/// and allocates colour pairs on demand.
struct CursesPainter {
    let theme: Theme
    /// ncurses reports fewer than 16 colours: bright colours become bold.
    let eightColors: Bool
    let pairLimit: Int32
    private var last: Screen?
    private var pairs: [PairKey: Int32] = [:]
    private var nextPair: Int32 = 1
    private var recycled = false

    private struct PairKey: Hashable {
        let fg: Int32
        let bg: Int32
    }

    init(theme: Theme, colors: Int, pairs: Int) {
        self.theme = theme
        eightColors = colors < 16
        pairLimit = Int32(clamping: min(pairs, 32767))
    }

    /// Forgets what is on the terminal, so the next draw repaints every cell.
    mutating func invalidate() { last = nil }

    mutating func draw(_ screen: Screen) {
        let changed = screen.changedCells(since: last)
        guard !changed.isEmpty else { return }
        let width = screen.size.width
        for index in changed {
            put(screen.cells[index], x: index % width, y: index / width)
        }
        last = recycled ? nil : screen
        recycled = false
        wnoutrefresh(nabla_stdscr())
        doupdate()
    }

    private mutating func put(_ cell: Cell, x: Int, y: Int) {
        var attrs = nabla_a_normal()
        if cell.attributes.contains(.bold) { attrs |= nabla_a_bold() }
        if cell.attributes.contains(.dim) { attrs |= nabla_a_dim() }
        if cell.attributes.contains(.reverse) { attrs |= nabla_a_reverse() }
        if cell.attributes.contains(.underline) { attrs |= nabla_a_underline() }
        var pair: Int32 = 0
        if theme.mode.hasColor {
            var fg = theme.color(cell.foreground)
            var bg = theme.color(cell.background)
            if eightColors {
                // Block elements (U+2580-U+259F) are pixels, everything else is text.
                let pixel = cell.character.unicodeScalars.allSatisfy { (0x2580...0x259F).contains($0.value) }
                let mapped = TerminalColor.forEightColors(foreground: fg, background: bg, text: !pixel)
                (fg, bg) = (mapped.foreground, mapped.background)
                if mapped.bold { attrs |= nabla_a_bold() }
            }
            pair = self.pair(fg: number(fg), bg: number(bg))
        }
        var wide: [wchar_t] = cell.character.unicodeScalars.prefix(1).map { wchar_t(bitPattern: $0.value) } + [0]
        var cc = cchar_t()
        setcchar(&cc, &wide, attrs, Int16(truncatingIfNeeded: min(pair, 32767)), &pair)
        mvwadd_wch(nabla_stdscr(), Int32(y), Int32(x), &cc)
    }

    private func number(_ color: TerminalColor) -> Int32 {
        switch color {
        case .terminalDefault: -1
        case .indexed(let i): Int32(i)
        case .rgb(let c): Int32(c.packed)
        }
    }

    private mutating func pair(fg: Int32, bg: Int32) -> Int32 {
        if fg == -1 && bg == -1 { return 0 }
        let key = PairKey(fg: fg, bg: bg)
        if let p = pairs[key] { return p }
        if nextPair >= pairLimit {
            // Out of pairs: start over; cells drawn with recycled pairs are repainted next frame.
            pairs.removeAll()
            nextPair = 1
            recycled = true
        }
        let p = nextPair
        nextPair += 1
        init_extended_pair(p, fg, bg)
        pairs[key] = p
        return p
    }
}
