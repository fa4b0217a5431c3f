import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The parts of the state a command may change, to check that bad ones change none.
struct Fingerprint: Equatable {
    let threshold: Double, sta: STAWindow?, head: Int, block: BlockShape, requested: BlockShape
    let cursor: BlockPair, zoom: Int, origin: BlockPair, overview: Bool, generation: Int, inputName: String

    init(_ s: AppState) {
        threshold = s.threshold; sta = s.sta; head = s.head; block = s.block; requested = s.requestedBlock
        cursor = s.cursor; zoom = s.zoom; origin = s.origin; overview = s.overview; generation = s.generation
        inputName = s.inputName
    }
}

@Suite("Keymap and prompt")
struct KeymapTests {
    /// Whether `after` (and the effects) show that `action` happened, starting from `before`.
    func happened(_ action: Action, _ before: AppState, _ after: AppState, _ effects: [Effect]) -> Bool {
        switch action {
        case .moveCursor(let dq, let dk), .moveFrame(let dq, let dk):
            return (after.cursor.query - before.cursor.query).signum() == dq.signum()
                && (after.cursor.key - before.cursor.key).signum() == dk.signum()
        case .zoomIn: return after.zoom == before.zoom + 1
        case .zoomOut: return after.zoom == before.zoom - 1
        case .zoomFit: return after.zoom == 0
        case .changeHead(let d): return after.head == (before.head + d + before.heads) % before.heads
        case .changeThreshold(let h):
            // The head on screen re-cut at once; the other heads and attention go to the background.
            return abs(after.threshold - (before.threshold + Double(h) / 100)) < 1e-9 && effects.allSatisfy { $0.lane != .map }
                && after.headMask(after.head)?.mask.settings.threshold == after.threshold
                && after.headMask(after.head)?.isCurrent == true
        case .cycleBlock:
            if case .computeMap(_, let block, let g, _)? = effects.first { return block != before.block && g == before.generation + 1 }
            return false
        case .toggleSTA: return (after.sta == nil) != (before.sta == nil)
        case .toggleOverview: return after.overview != before.overview
        case .toggleTrueMass: return after.showTrueMass != before.showTrueMass
        // Not a whole-model dump: pairs and the model view are refused with a message
        // (ModelViewTests covers dumps).
        case .changePair, .toggleModel:
            if case .error? = after.message { return effects.isEmpty && after.model == nil }
            return false
        case .select: return false // not bound to a key
        case .teach(let kind): return after.teaching?.kind == kind && before.teaching == nil
        case .toggleHelp: return after.mode == .help
        case .openPrompt: return after.mode == .prompt("")
        case .cancel: return after.message == nil && after.mode == .normal && !after.overview
        case .quit:
            if case .quit? = effects.first { return after.quitRequested }
            return false
        }
    }

    @Test("every key of every binding dispatches the binding's action")
    func bindings() throws {
        var base = TestApp.make(size: Size(width: 60, height: 16), block: BlockShape(bt: 1, bh: 4, bw: 4))
        try base.keys("+jjll")  // zoomed in once, away from the edges
        base.state.threshold = 0.5
        base.send(.tick)  // re-cuts
        base.state.message = .info("hello")
        for binding in Keymap.standard.bindings {
            for key in binding.keys {
                var state = base.state
                let effects = reduce(&state, .key(key))
                #expect(happened(binding.action, base.state, state, effects), "\(key) -> \(binding.action)")
            }
        }
    }

    @Test("Esc is back everywhere: out of help, the prompt (running nothing) and the heads overview")
    func escapeIsBack() throws {
        var app = TestApp.make()
        try app.keys("o")
        #expect(app.state.overview)
        try app.keys("<Esc>")
        #expect(!app.state.overview && app.state.mode == .normal)
        try app.keys("o?")
        #expect(app.state.mode == .help && app.state.overview)
        try app.keys("<Esc>")
        #expect(app.state.mode == .normal && app.state.overview)  // one step back at a time
        try app.keys("<Esc>")
        #expect(!app.state.overview)
        try app.keys(":head 2<Esc>")
        #expect(app.state.mode == .normal && app.state.head == 0)
        // The action itself, not only the key: `.cancel` from the overview with a message.
        var state = app.state
        state.overview = true
        state.message = .info("hello")
        _ = state.perform(.cancel)
        #expect(!state.overview && state.message == nil)
    }

    @Test("no key is bound twice")
    func unique() {
        let keys = Keymap.standard.bindings.flatMap(\.keys)
        #expect(Set(keys).count == keys.count)
    }

    @Test("the help lists every binding with its keys and the prompt commands")
    func help() throws {
        for size in [Size(width: 120, height: 40), Size(width: 80, height: 24)] {
            var app = TestApp.make(size: size)
            try app.keys("?")
            // Where the help does not fit it scrolls: everything it showed, scrolled to the end.
            var seen = app.screen.text
            for _ in 0..<40 {
                try app.keys("j")
                seen += "\n" + app.screen.text
            }
            try app.keys("<Home>")
            let text = seen
            for binding in Keymap.standard.bindings {
                #expect(text.contains(binding.keysText + " "), "\(binding.keysText) at \(size)")
                #expect(text.contains(binding.help), "\(binding.help) at \(size)")
            }
            for command in PromptCommand.catalog { #expect(text.contains(":" + command.usage)) }
            try app.keys("?")
            #expect(app.state.mode == .normal)
            try app.keys("?<Esc>")
            #expect(app.state.mode == .normal)
        }
    }

    @Test(":thr 0.85 sets 0.85 and re-cuts without a job")
    func threshold() throws {
        var app = TestApp.make()
        let map = app.state.map
        var state = app.state
        for key in try Key.parseSequence(":thr 0.85") { _ = reduce(&state, .key(key)) }
        let effects = reduce(&state, .key(.enter))
        #expect(effects.allSatisfy { $0.lane != .map } && state.job == nil)
        #expect(state.threshold == 0.85)
        #expect(state.headMask(state.head)?.mask.settings.threshold == 0.85)
        #expect(state.map === map)
        try app.keys(":thr 0.85<Enter>")
        #expect(app.screen.lines.last?.contains("thr 0.85") == true)
    }

    @Test("good commands", arguments: [
        (":head 2", "head"), (":block 1x4x4", "block"), (":sta 11x3x3", "sta"), (":sta 11x3x3<Enter>:sta off", "off"),
        (":threshold 0", "thr0"), (":thr 1", "thr1"), (":compare thr=0.5,block=1x8x8", "compare"),
    ])
    func goodCommands(line: String, what: String) throws {
        var app = TestApp.make()
        try app.keys(line + "<Enter>")
        // The test input's block grid is 4x2x2: 11 frames reach past all 4, which :sta says.
        if what == "sta" {
            #expect(app.state.message == .info("STA 11x3x3 covers every block in frames of the 4x2x2 block grid"))
        } else {
            #expect(app.state.message == nil)
        }
        switch what {
        case "head": #expect(app.state.head == 2)  // the tensor's index, 0-based
        case "block": #expect(app.state.block == BlockShape(bt: 1, bh: 4, bw: 4))
        case "sta": #expect(app.state.sta == .kandinsky && app.state.mask?.settings.sta == .kandinsky)
        case "off": #expect(app.state.sta == nil && app.state.staWindow == .kandinsky)
        case "thr0": #expect(app.state.threshold == 0)
        case "compare":
            guard case .compare? = app.state.teaching else {
                Issue.record("no compare view for B at the map's own block")
                return
            }
        default: #expect(app.state.threshold == 1 && app.state.mask?.statistics.overallDensity == 1)
        }
    }

    @Test(":sta with a window reaching every block of an axis is set, and says so (issue 20, item 4)")
    func wholeAxisWindow() throws {
        var app = TestApp.make()
        try app.keys(":sta 999x1x1<Enter>")
        #expect(app.state.sta == STAWindow(wt: 999, wh: 1, ww: 1))
        guard case .info(let text)? = app.state.message else {
            Issue.record("no note for a window covering every frame: \(String(describing: app.state.message))")
            return
        }
        #expect(text.contains("covers every block in frames of the"), "\(text)")
        try app.keys(":sta 1x1x1<Enter>")
        #expect(app.state.message == nil)
    }

    @Test("bad commands change nothing and put an error in the status line", arguments: [
        "thr 2", "thr x", "thr", "head -1", "head 3", "head two", "edge cut", "block 1x8", "edge",
        "sta 11x3", "sta on", "sta 4x3x3", "sta 3x3x2", "compare thr=0.9,block=1x16x16", "compare dense,block=1x4x4", "frobnicate", "open 'unterminated", "quit now", "",
    ])
    func badCommands(line: String) throws {
        var app = TestApp.make()
        let before = Fingerprint(app.state)
        try app.keys(":" + line + "<Enter>")
        #expect(Fingerprint(app.state) == before)
        guard case .error(let text)? = app.state.message else {
            Issue.record("no error for '\(line)'")
            return
        }
        #expect(app.screen.lines.last?.contains("error: " + text.prefix(20)) == true)
        try app.keys("j")
        #expect(app.state.message == nil)
    }

    @Test("open takes shell-like words and loads off the UI thread")
    func open() throws {
        var state = TestApp.make().state
        let generation = state.generation
        for key in try Key.parseSequence(":open 'my file.npy' \"k q.npy\" --grid 4x16x16<Enter>") {
            let effects = reduce(&state, .key(key))
            if key == .enter {
                guard case .loadInput(let request, _, let g, _)? = effects.first else {
                    Issue.record("no load effect")
                    continue
                }
                // Parsed once, into a typed request (the loader never sees argv).
                #expect(request.source == .tensors(q: TensorSource(path: "my file.npy"), k: TensorSource(path: "k q.npy"), v: nil))
                #expect(request.layout.grid == (try TokenGrid(parsing: "4x16x16", what: "--grid")))
                #expect(g == generation + 1)
            }
        }
        #expect(state.job?.label == "loading my file.npy k q.npy --grid 4x16x16")
    }

    @Test("a failed open keeps the input and shows the error")
    func failedOpen() throws {
        var app = TestApp.make()
        let before = Fingerprint(app.state)
        try app.keys(":open missing.npy<Enter>")
        #expect(app.state.message == .error("missing.npy: no such file"))
        #expect(app.state.inputName == before.inputName && app.state.map != nil && app.state.job == nil)
    }

    @Test("shell splitting honours quotes and escapes")
    func shellSplit() throws {
        #expect(try PromptCommand.shellSplit("a  b\tc") == ["a", "b", "c"])
        #expect(try PromptCommand.shellSplit("'a b' \"c d\" e\\ f") == ["a b", "c d", "e f"])
        #expect(try PromptCommand.shellSplit("x'y'\"z\" ''") == ["xyz", ""])
        #expect(try PromptCommand.shellSplit("\"a\\\"b\\\\c\"") == ["a\"b\\c"])
        #expect(throws: NablaError.self) { try PromptCommand.shellSplit("'open") }
        #expect(throws: NablaError.self) { try PromptCommand.shellSplit("\"open") }
        #expect(throws: NablaError.self) { try PromptCommand.shellSplit("x\\") }
    }

    @Test("key notation")
    func notation() throws {
        #expect(try Key.parseSequence(":thr 0.5<Enter>]]o") ==
            [":", "t", "h", "r", " ", "0", ".", "5"].map { Key.character($0) } + [.enter, .character("]"), .character("]"), .character("o")])
        #expect(try Key.parseSequence("<Up><down><PageUp><PageDown><Esc><Tab><C-c><lt><><0.5>") ==
            [.up, .down, .pageUp, .pageDown, .escape, .tab, .control("c"), .character("<"), .character("<"), .character(">"),
             .character("<"), .character("0"), .character("."), .character("5"), .character(">")])
        #expect(throws: NablaError.self) { try Key.parseSequence("<C-ab>") }
        // A name nabla does not know is a mistake, not five literal keys.
        let unknown = #expect(throws: NablaError.self) { try Key.parseSequence("]<Foo>") }
        #expect(unknown?.message.hasPrefix("unknown key <Foo> (known: <Up>") == true)
        for key: Key in [.up, .pageDown, .control("c"), .character(" "), .character("q"), .escape, .enter, .backspace] {
            #expect(try Key.parseSequence(key.description) == [key])
        }
    }

    @Test("the prompt edits: backspace, Ctrl-U, Esc")
    func promptEditing() throws {
        var app = TestApp.make()
        try app.keys(":thr 0.55<BS><BS>7")
        #expect(app.state.mode == .prompt("thr 0.7"))
        try app.keys("<C-u>")
        #expect(app.state.mode == .prompt(""))
        try app.keys("<BS>")
        #expect(app.state.mode == .normal)
        try app.keys(":thr 0.1<Esc>")
        #expect(app.state.mode == .normal && app.state.threshold == 0.9)
    }

    @Test("q and Ctrl-C quit; keys after a quit are ignored")
    func quit() throws {
        for keys in ["q", "<C-c>", ":quit<Enter>", "?q", ":thr<C-c>"] {
            var app = TestApp.make()
            try app.keys(keys + "]")
            #expect(app.state.quitRequested, "\(keys)")
            #expect(app.state.head == 0)
        }
    }
}

@Suite("Help scrolls, messages are read in full")
struct HelpAndMessageTests {
    @Test("help that fits shows every line and no 'more below', even when it fills its columns exactly",
          arguments: [Size(width: 120, height: 40), Size(width: 160, height: 60), Size(width: 160, height: 80), Size(width: 100, height: 30)])
    func helpThatFits(size: Size) throws {
        var app = TestApp.make(size: size)
        try app.keys("?")
        let text = app.screen.text
        #expect(!text.contains("more below"), "at \(size)")
        for (line, _) in app.state.helpLines { #expect(text.contains(line), "not shown at \(size): \(line)") }
    }

    @Test("help scrolls at the minimum size until every line has been shown", arguments: [Size(width: 60, height: 16), Size(width: 80, height: 20)])
    func helpScrolls(size: Size) throws {
        var app = TestApp.make(size: size)
        try app.keys("?")
        var seen = Set<String>()
        for _ in 0..<60 {
            seen.formUnion(app.screen.lines)
            try app.keys("j")
        }
        let text = seen.joined(separator: "\n")
        for (line, _) in app.state.helpLines { #expect(text.contains(line), "never shown at \(size): \(line)") }
        #expect(app.screen.lines.allSatisfy { !$0.contains("enlarge the terminal") })
        // PageUp / Home go back; Esc closes.
        try app.keys("<Home>")
        #expect(app.screen.text.contains("Keys"))
        try app.keys("<Esc>")
        #expect(app.state.mode == .normal)
    }

    /// Every bad prompt command at several widths: the whole error is on screen, in order.
    @Test("prompt errors are readable in full at every width", arguments: [60, 80, 100, 120])
    func errorsInFull(width: Int) throws {
        for line in ["thr 2", "head 7", "edge cut", "open /no/such/directory/and/a/long/file/name/q.npy k.npy", "frobnicate now please",
                     "sta 11x3", "open 'unterminated"] {
            var app = TestApp.make(size: Size(width: width, height: 24))
            try app.keys(":" + line + "<Enter>")
            guard case .error(let text)? = app.state.message else {
                Issue.record("no error for \(line)")
                continue
            }
            // The rows at the bottom that hold the message, joined with spaces.
            let rows = app.screen.lines.suffix(6).map { $0.trimmingCharacters(in: .whitespaces) }
            let joined = rows.joined(separator: " ").split(separator: " ").joined(separator: " ")
            let want = ("error: " + text).split(separator: " ").joined(separator: " ")
            #expect(joined.contains(want) || rows.contains { $0.contains("error: " + text) }, "\(width): \(want)\n\(rows.joined(separator: "\n"))")
        }
    }
}

@Suite("The prompt: cursor, history, completion, ~")
struct PromptEditingTests {
    @Test("cursor movement edits in the middle of the line and the screen shows the cursor there")
    func cursor() throws {
        var app = TestApp.make(size: Size(width: 100, height: 30))
        try app.keys(":thr 0.5<Left><Left><Left>x<BS><Home>h<Del><End>5")
        #expect(app.state.mode == .prompt("hhr 0.55"))
        try app.keys("<C-a><Del>t<Right><Right><Right><Del>0<C-e>")
        #expect(app.state.mode == .prompt("thr 0.55") && app.state.promptCursor == 8)
        try app.keys("<Left><Left>")
        let status = try #require(app.screen.lines.last)
        #expect(status.hasPrefix(" :thr 0.55"))
        // The cursor cell (reverse video) is on the '5' two from the end.
        let row = app.screen.size.height - 1
        let x = 1 + 1 + 6
        #expect(app.screen[x, row].character == "5" && app.screen[x, row].attributes.contains(.reverse))
        try app.keys("<C-u>")
        #expect(app.state.mode == .prompt("55") && app.state.promptCursor == 0)
    }

    @Test("Up and Down walk the lines run before")
    func history() throws {
        var app = TestApp.make()
        try app.keys(":thr 0.5<Enter>:head 1<Enter>:sta 3x3x3<Enter>:")
        try app.keys("<Up>")
        #expect(app.state.mode == .prompt("sta 3x3x3"))
        try app.keys("<Up><Up><Up>")
        #expect(app.state.mode == .prompt("thr 0.5"))
        try app.keys("<Down>")
        #expect(app.state.mode == .prompt("head 1"))
        try app.keys("<Down><Down>")
        #expect(app.state.mode == .prompt(""))
        try app.keys("<Up><Up><BS>2<Enter>")
        #expect(app.state.head == 2 && app.state.promptHistory.last == "head 2")
    }

    @Test("Tab completes command names and paths after open and save")
    func completion() throws {
        let list: (String) -> [(name: String, directory: Bool)] = { dir in
            switch dir {
            case ".": [("data", true), ("q.npy", false), ("k.npy", false), ("kv.npy", false), (".hidden", false)]
            case "data/": [("run-1", true), ("run-2", true)]
            case "/home/me/": [("dumps", true)]
            default: []
            }
        }
        #expect(PromptCompletion.complete("th", list: list) == "thr")           // thr and threshold: common prefix
        #expect(PromptCompletion.complete("bl", list: list) == "block ")
        #expect(PromptCompletion.complete("zz", list: list) == nil)
        #expect(PromptCompletion.complete("open q", list: list) == "open q.npy ")
        #expect(PromptCompletion.complete("open q.npy k", list: list) == nil)  // k.npy and kv.npy: nothing to add
        #expect(PromptCompletion.complete("open q.npy kv", list: list) == "open q.npy kv.npy ")
        #expect(PromptCompletion.complete("save d", list: list) == "save data/")
        #expect(PromptCompletion.complete("save data/r", list: list) == "save data/run-")
        #expect(PromptCompletion.complete("thr 0.", list: list) == nil)
    }

    @Test("Tab in the app completes from the file system; ~ is HOME")
    func completionInApp() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-tab-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("somedir"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var app = TestApp.make()
        try app.keys(":op<Tab>" + dir.path + "/so<Tab>")
        #expect(app.state.mode == .prompt("open " + dir.path + "/somedir/"))
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        #expect(PromptCommand.expandingTilde("~/x") == home + "/x" && PromptCommand.expandingTilde("~") == home)
        #expect(PromptCommand.expandingTilde("~other/x") == "~other/x" && PromptCommand.expandingTilde("a~") == "a~")
        #expect(try PromptCommand.parse("open ~/q.npy", headIndices: nil) == .open([home + "/q.npy"]))
    }

    @Test("docs/app.md's key table names every key of the map's keymap")
    func docsKeyTable() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/app.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let table = text.split(separator: "\n").filter { $0.hasPrefix("| `") }.joined(separator: "\n")
        func written(_ key: Key) -> String {
            switch key {
            case .left: "`←`"
            case .right: "`→`"
            case .up: "`↑`"
            case .down: "`↓`"
            case .pageUp: "`PgUp`"
            case .pageDown: "`PgDn`"
            case .escape: "`Esc`"
            case .enter: "`Enter`"
            case .control(let c): "`Ctrl-\(String(c).uppercased())`"
            case .home: "`Home`"
            case .end: "`End`"
            case .tab: "`Tab`"
            case .backspace: "`Backspace`"
            case .delete: "`Delete`"
            case .character(" "): "`Space`"
            case .character(let c): "`\(c)`"
            }
        }
        for binding in Keymap.standard.bindings {
            for key in binding.keys { #expect(table.contains(written(key)), "\(written(key)) (\(binding.help)) is missing from docs/app.md") }
        }
        // The other contexts' tables, each a row per entry: its keys and its words.
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| `") }
        func check<A>(_ table: KeyTable<A>) {
            for entry in table.entries {
                let row = rows.first { $0.contains(entry.help) }
                #expect(row != nil, "\(table.name): '\(entry.help)' is missing from docs/app.md")
                for key in entry.keys { #expect(row?.contains(written(key)) == true, "\(table.name): \(written(key)) for '\(entry.help)'") }
            }
        }
        check(Keymap.help)
        check(Keymap.prompt)
        check(Keymap.model)
        check(Keymap.follow)
        check(Keymap.compare)
        check(Keymap.sweep)
        check(Keymap.methods)
    }

    @Test("the help and prompt tables are what the app dispatches on")
    func contextTables() throws {
        var app = TestApp.make(size: Size(width: 60, height: 16))
        try app.keys("?")
        for entry in Keymap.help.entries where entry.action != .quit {
            for key in entry.keys {
                var state = app.state
                state.helpOffset = 3
                _ = reduce(&state, .key(key))
                switch entry.action {
                case .close: #expect(state.mode == .normal, "\(key)")
                case .scroll(let d): #expect(state.helpOffset == 3 + d, "\(key)")
                case .page(let d): #expect((state.helpOffset - 3).signum() == d.signum() || state.helpOffset == 0, "\(key)")
                case .top: #expect(state.helpOffset == 0, "\(key)")
                case .bottom: #expect(state.helpOffset == state.helpLineCount, "\(key)")
                case .quit: break
                }
            }
        }
        // A key no help entry names changes nothing.
        var state = app.state
        _ = reduce(&state, .key(.character("x")))
        #expect(state.mode == .help)
        // At the prompt, every entry acts; other characters are typed.
        var prompt = TestApp.make().state
        for key in try Key.parseSequence(":thr 0.5") { _ = reduce(&prompt, .key(key)) }
        for entry in Keymap.prompt.entries where entry.action != .quit {
            var s = prompt
            _ = reduce(&s, .key(entry.keys[0]))
            let changed = s.mode != prompt.mode || s.promptCursor != prompt.promptCursor || s.threshold != prompt.threshold
            #expect(changed || entry.action == .newer || entry.action == .older || entry.action == .right
                    || entry.action == .end || entry.action == .deleteForward || entry.action == .complete, "\(entry.help)")
        }
    }
}
