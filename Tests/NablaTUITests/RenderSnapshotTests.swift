import Testing
import NablaCore
@testable import NablaTUI

@Suite("Rendered screens")
struct RenderSnapshotTests {
    @Test("120x40 with the fitted map, cursor details, times and coverage")
    func large() {
        expectSnapshot(TestApp.make().screen, "map-120x40")
    }

    @Test("80x24")
    func medium() {
        expectSnapshot(TestApp.make(size: Size(width: 80, height: 24)).screen, "map-80x24", roles: true)
    }

    @Test("the minimum size, 60x16")
    func minimum() {
        expectSnapshot(TestApp.make(size: Size(width: 60, height: 16)).screen, "map-60x16")
    }

    @Test("below the minimum the app says how large it needs to be")
    func tooSmall() throws {
        var app = TestApp.make(size: Size(width: 20, height: 6))
        let screen = app.screen
        expectSnapshot(screen, "too-small-20x6")
        #expect(screen.text.contains("needs 60x16"))
        #expect(screen.text.contains("q quits"))
        // Keys still work at this size, and growing back shows the app again.
        try app.keys("]")
        app.send(.resize(Size(width: 80, height: 24)))
        #expect(app.screen.text.contains("head 1 (0-2)"))
        app.send(.resize(Size(width: 59, height: 24)))
        try app.keys("q")
        #expect(app.state.quitRequested)
    }

    @Test("monochrome draws shades, and attributes mark kept blocks")
    func mono() throws {
        var app = TestApp.make(size: Size(width: 80, height: 24), mode: .mono)
        expectSnapshot(app.screen, "mono-80x24")
        // Kept blocks are bold shades, dropped ones dim; nothing depends on colour.
        try app.keys("{{{")
        let cells = app.screen.cells
        #expect(cells.contains { $0.attributes.contains(.bold) && "▒▓█".contains($0.character) })
        #expect(cells.contains { $0.attributes.contains(.dim) && " ░".contains($0.character) })
        let theme = app.state.theme
        #expect(cells.allSatisfy { theme.color($0.foreground) == .terminalDefault && theme.color($0.background) == .terminalDefault })
    }

    @Test("ASCII glyphs for non-UTF-8 locales, in colour and in monochrome")
    func ascii() {
        for mode in [ColorMode.palette256, .mono] {
            let screen = TestApp.make(size: Size(width: 80, height: 24), mode: mode, unicode: false).screen
            expectSnapshot(screen, "ascii-\(mode)-80x24")
            #expect(screen.text.unicodeScalars.allSatisfy { $0.isASCII })
        }
    }

    @Test("a finer block, zoomed in to one block per pixel")
    func zoomed() throws {
        var app = TestApp.make(size: Size(width: 80, height: 24), block: BlockShape(bt: 1, bh: 4, bw: 4))
        try app.keys("++++jjjjlll")
        #expect(app.state.viewport?.blocksPerPixel == 1)
        expectSnapshot(app.screen, "zoomed-1x4x4-80x24")
    }

    @Test("the heads overview")
    func overview() throws {
        var app = TestApp.make(size: Size(width: 100, height: 30), mode: .mono)
        try app.keys("]o")
        expectSnapshot(app.screen, "overview-mono-100x30", roles: true)
    }

    @Test("help, the prompt and an error in the status line")
    func helpPromptError() throws {
        var app = TestApp.make(size: Size(width: 100, height: 30))
        try app.keys("?")
        expectSnapshot(app.screen, "help-100x30", roles: true)
        try app.keys("<Esc>:thr 2<Enter>")
        #expect(app.screen.lines.last?.contains("error: threshold '2' is not a number in [0, 1]") == true)
        try app.keys(":sta 11x3x3")
        expectSnapshot(app.screen, "prompt-100x30", roles: true)
    }

    @Test("the video preview when the input has one")
    func preview() throws {
        var app = TestApp.make(size: Size(width: 120, height: 40), mode: .mono, arguments: ["preview"])
        try app.keys("JJl")
        expectSnapshot(app.screen, "preview-mono-120x40")
    }

    @Test("a preview with colours is drawn in them where the terminal has colour: the left half red, the right half blue (item 12)",
          arguments: [ColorMode.truecolor, .palette256, .ansi16])
    func colourPreview(mode: ColorMode) throws {
        var input = TestApp.input(preview: true)
        let g = input.grid
        var rgb = [Float](repeating: 0, count: g.tokens * 3)
        for tok in 0..<g.tokens { rgb[tok * 3 + (tok % g.w < g.w / 2 ? 0 : 2)] = 1 }
        input.preview = VideoPreview(grid: g, luminance: input.preview!.luminance, rgb: rgb)
        var app = HeadlessApp(config: AppConfig(inputName: "test", block: .nabla, threshold: 0.9,
                                                theme: Theme(mode: mode, glyphs: .unicodeSet)),
                              size: Size(width: 120, height: 40), loader: TestApp.loader(input))
        app.send(.tick)
        let red = ColorRole.video(r: 1, g: 0, b: 0), blue = ColorRole.video(r: 0, g: 0, b: 1)
        #expect(red == .video(180) && blue == .video(5))
        let roles = app.screen.cells.flatMap { [$0.foreground, $0.background] }
        #expect(roles.contains(red) && roles.contains(blue))
        #expect(!roles.contains { if case .grey = $0 { true } else { false } }, "no grey pixels in a colour preview")
        // Each mode turns them into its own reds and blues.
        let theme = Theme(mode: mode, glyphs: .unicodeSet)
        #expect(theme.color(red) != theme.color(blue))
        if mode == .ansi16 { #expect(theme.color(red) == .indexed(9) && theme.color(blue) == .indexed(4)) }
    }

    @Test("map pixels follow the mask: kept on the ramp, dropped grey; pooled pixels by share kept",
          arguments: [Size(width: 120, height: 40), Size(width: 60, height: 16)])
    func mapColours(size: Size) throws {
        var app = TestApp.make(size: size, block: BlockShape(bt: 1, bh: 4, bw: 4))
        try app.keys("<<<<<<<<<<<<<<<<<<<<")  // threshold 0.70: a sparser mask
        let state = app.state
        let view = try #require(state.viewport)
        let mask = try #require(state.mask)
        let area = ScreenLayout(state: state, size: size).mapArea
        let screen = app.screen
        var seen = (kept: 0, dropped: 0)
        for y in 0..<view.drawnHeight {
            for x in 0..<view.drawnWidth where !(view.pixelRow(query: state.cursor.query) == y && view.pixelColumn(key: state.cursor.key) == x) {
                let cell = screen[area.x + x, area.y + y / 2]
                let role = y % 2 == 0 ? cell.foreground : cell.background
                // Pixel y covers blocks origin + y * step ..< origin + (y + 1) * step (cut at the map's end).
                let step = view.blocksPerPixel, n = mask.blocks.count
                let rows = (view.origin.query + y * step)..<min(view.origin.query + (y + 1) * step, n)
                let cols = (view.origin.key + x * step)..<min(view.origin.key + (x + 1) * step, n)
                let kept = rows.flatMap { a in cols.map { b in mask.isKept(head: state.head, query: a, key: b) } }.filter { $0 }.count
                #expect(cell.character == "▀")
                switch role {
                case .kept(let level):
                    #expect(kept > 0, "pixel \(x),\(y)")
                    if view.blocksPerPixel > 1 {
                        // 32 levels by share kept: level = floor(32 * kept / blocks), the full share on level 31.
                        let share = kept * Theme.rampLevels / (rows.count * cols.count)
                        #expect(Int(level) == min(share, Theme.rampLevels - 1), "pixel \(x),\(y): \(kept) of \(rows.count * cols.count)")
                    }
                    seen.kept += 1
                case .dropped:
                    #expect(kept == 0, "pixel \(x),\(y)")
                    seen.dropped += 1
                default:
                    Issue.record("pixel \(x),\(y) has role \(role)")
                }
            }
        }
        #expect(seen.kept > 0 && seen.dropped > 0)
        #expect((view.blocksPerPixel > 1) == (size.width == 60))
    }

    @Test("while loading, the map panel and status line show progress")
    func loading() {
        var state = AppState(config: AppConfig(inputName: "sample"))
        _ = start(&state, size: Size(width: 80, height: 24))
        let text = render(state, size: state.size).text
        #expect(text.contains("loading sample"))
        #expect(text.contains("thr 0.90"))
    }

    @Test("every size from tiny to large renders what fits: the map and status from 60x16, the size asked for below",
          arguments: [1, 7, 19, 59, 60, 61, 97, 143])
    func sizes(width: Int) {
        var app = TestApp.make()
        for height in [1, 5, 15, 16, 17, 33, 60] {
            let size = Size(width: width, height: height)
            app.send(.resize(size))
            let screen = app.screen
            #expect(screen.size == size)
            #expect(screen.lines.count == height && screen.lines.allSatisfy { $0.count <= width })
            let text = screen.text
            if width >= 60 && height >= 16 {
                // The map is drawn (kept and dropped pixels) and the status line is the last line.
                #expect(text.contains("▀"), "no map at \(size)")
                #expect(screen.lines.last?.contains("thr 0.90") == true, "no status line at \(size)")
                #expect(!text.contains("nabla needs"))
            } else {
                #expect(!text.contains("thr 0.90"), "status drawn at \(size)")
                // What is needed and the size now, in three lines of up to 19 columns.
                if width >= 19 && height >= 3 {
                    #expect(text.contains("nabla needs 60x16") && text.contains("(now \(size))"), "\(size)")
                }
            }
        }
    }

    @Test("the status line shows the settings in the required forms")
    func statusLine() throws {
        var app = TestApp.make()
        // 3x3x3 on the 4x2x2 block grid is no larger than the grid: no note.
        try app.keys("]]:sta 3x3x3<Enter>")
        #expect(app.state.message == nil)
        let status = try #require(app.screen.lines.last)
        #expect(status.contains("test"))
        #expect(status.contains("4x16x16"))
        #expect(status.contains("thr 0.90"))
        #expect(status.contains("head 2 (0-2)"))
        #expect(status.contains("STA 3x3x3"))
        #expect(status.contains("density "))
        #expect(status.contains("? help"))
    }
}

@Suite("Screen diffing")
struct ScreenDiffTests {
    @Test("only changed cells are reported, all of them for a new size")
    func changed() {
        var a = Screen(size: Size(width: 10, height: 3))
        #expect(a.changedCells(since: nil).count == 30)
        let b = a
        a.put("hi", x: 3, y: 1)
        #expect(a.changedCells(since: b) == [13, 14])
        #expect(Screen(size: Size(width: 9, height: 3)).changedCells(since: a).count == 27)
    }

    @Test("writes are clipped and wide characters replaced")
    func clipping() {
        var s = Screen(size: Size(width: 4, height: 1))
        s.put("a漢bcdef", x: -1, y: 0)
        #expect(s.text == "?bcd")
        var ascii = Screen(size: Size(width: 5, height: 1), ascii: true)
        ascii.put("─│·…▶", x: 0, y: 0)
        #expect(ascii.text == "-|.~>")
    }
}

@Suite("Frame-coverage bars")
struct CoverageBarTests {
    @Test("bars are scaled to the head's largest share, which the title states; shares of a few percent differ",
          arguments: [Size(width: 120, height: 40), Size(width: 160, height: 50)])
    func scaled(size: Size) throws {
        let app = TestApp.make(size: size)
        let eighths = Array("▏▎▍▌▋▊▉█")
        let lines = app.screen.lines
        let titleLine = try #require(lines.first { $0.contains("frame coverage %, head 0") })
        let scaleText = try #require(titleLine.range(of: #"bars 0–[0-9.]+%"#, options: .regularExpression).map { String(titleLine[$0]) })
        var rows: [(share: Double, bar: Int)] = []
        for line in lines {
            guard let m = line.range(of: #"[▏▎▍▌▋▊▉█]* +[0-9.]+%$"#, options: .regularExpression) else { continue }
            let tail = line[m]
            let bar = tail.prefix { eighths.contains($0) }
            let units = bar.reduce(0) { $0 + eighths.firstIndex(of: $1)! + 1 }
            let share = Double(tail.drop { !$0.isNumber }.dropLast())!
            rows.append((share, units))
        }
        let tb = try #require(app.state.mask?.statistics.slabs)
        #expect(rows.count == tb)
        let maxShare = rows.map(\.share).max()!
        #expect(scaleText.hasSuffix("\(maxShare < 10 ? String(format: "%.1f", maxShare) : String(Int(maxShare)))%"))
        // The largest share fills the bar; bars grow with the shares, in proportion.
        let full = rows.map(\.bar).max()!
        #expect(rows.filter { $0.share == maxShare }.allSatisfy { $0.bar == full })
        for a in rows { for b in rows where a.share < b.share { #expect(a.bar <= b.bar) } }
        for r in rows {
            let want = r.share / maxShare * Double(full)
            #expect(abs(Double(r.bar) - want) <= 1 + Double(full) * 0.06, "share \(r.share)%: bar \(r.bar)/\(full)")
        }
    }
}

@Suite("Hints fit the width")
struct HintTests {
    @Test("the overview's title always ends with how to leave it, never cut", arguments: [60, 61, 75, 80, 100, 120, 143, 200])
    func overviewHint(width: Int) throws {
        var app = TestApp.make(size: Size(width: width, height: 30))
        try app.keys("o")
        let title = try #require(app.screen.lines.first)
        let left = title.components(separatedBy: "─ cursor").first ?? title
        #expect(left.contains("Esc closes"), "\(width): \(title)")
        #expect(!left.contains("…"), "\(width): \(title)")
        try app.keys("<Esc>")
        #expect(!app.state.overview)
    }
}
