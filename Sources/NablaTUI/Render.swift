import Foundation
import NablaCore

/// The screen for `state` at `size`: a pure function, no terminal involved.
public func render(_ state: AppState, size: Size) -> Screen {
    var renderer = Renderer(state: state, size: size)
    renderer.draw()
    return renderer.screen
}

/// Draws one screen; split over `Render+*.swift` by panel.
struct Renderer {
    let state: AppState
    let theme: Theme
    let g: Glyphs
    let layout: ScreenLayout
    var screen: Screen

    init(state: AppState, size: Size) {
        self.state = state
        theme = state.theme
        g = state.theme.glyphs
        layout = ScreenLayout(state: state, size: size)
        screen = Screen(size: size, ascii: !state.theme.glyphs.unicode)
    }

    mutating func draw() {
        if layout.tooSmall {
            drawTooSmall()
            return
        }
        if let teaching = state.teaching, state.map != nil, state.model == nil {
            drawTeaching(teaching)
        } else if state.model != nil {
            drawModel()
            drawSide()
        } else {
            if state.overview, state.map != nil {
                drawOverview()
            } else {
                drawMapPanel()
            }
            drawSide()
        }
        drawStatus()
        if state.mode == .help { drawHelp() }
    }

    // MARK: - Shared pieces

    var titleStyle: Style { Style(.title, .normal, .bold) }
    var mutedStyle: Style { Style(.muted) }
    var accentStyle: Style { Style(.accent, .normal, theme.mode == .mono ? .bold : []) }

    /// A section heading across `rect`'s first row: `─ text ───────`.
    mutating func heading(_ text: String, in rect: Rect) {
        guard !rect.isEmpty else { return }
        screen.fill(rect.row(0), with: Cell(g.horizontal, mutedStyle))
        screen.put(String(g.horizontal), in: rect, style: mutedStyle)
        screen.put(" " + text + " ", in: Rect(x: rect.x + 1, y: rect.y, width: rect.width - 1, height: 1),
                   style: titleStyle, ellipsis: g.ellipsis)
    }

    /// The first of `variants` (most to least verbose) that fits `rect`'s width, so that
    /// the hint at its end (how to leave) is never cut off; the last one, cut, otherwise.
    mutating func putTitle(_ variants: [String], in rect: Rect) {
        let text = variants.first { $0.count <= rect.width } ?? variants.last ?? ""
        screen.put(text, in: rect, style: titleStyle, ellipsis: g.ellipsis)
    }

    /// Text centred in `rect` (one line per entry), vertically in the middle.
    mutating func centred(_ lines: [String], in rect: Rect, style: Style = .plain) {
        let top = rect.y + max(0, (rect.height - lines.count) / 2)
        for (i, line) in lines.enumerated() where top + i < rect.maxY {
            let x = rect.x + max(0, (rect.width - line.count) / 2)
            screen.put(line, in: Rect(x: x, y: top + i, width: rect.maxX - x, height: 1), style: style, ellipsis: g.ellipsis)
        }
    }

    /// Greedy word wrap.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if line.isEmpty {
                line = String(word)
            } else if line.count + 1 + word.count <= width {
                line += " " + word
            } else {
                lines.append(line)
                line = String(word)
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    mutating func drawTooSmall() {
        let need = ScreenLayout.minimum
        var lines = Renderer.wrap("nabla needs \(need) — q quits", width: max(screen.size.width, 1))
        lines.append("(now \(screen.size))")
        centred(lines, in: screen.bounds, style: Style(.normal, .normal, .bold))
    }
}
