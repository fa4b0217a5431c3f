import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The model, follow, compare and sweep views act on their own `KeyTable`s, which come
/// before the map's keymap: every entry of each table is pressed in its view and its effect
/// checked against what the test works out itself.
@Suite("View key tables: each entry acts in its view")
struct ViewKeyTablesTests {
    @Test("follow: tiles and frames step the followed query block, stopping at the edges; f steps the stage")
    func follow() throws {
        var app = TestApp.make()
        try app.keys("f")
        let blocks = try #require(app.state.map?.blocks)
        for entry in Keymap.follow.entries {
            for key in entry.keys {
                var state = app.state
                // From a block inside the grid, and from the corner (t 0, i 0, j 0).
                for start in [(1, 1, 1), (0, 0, 0)] {
                    state.cursor = BlockPair(query: (start.0 * blocks.hb + start.1) * blocks.wb + start.2, key: 3)
                    let stage = state.teaching.flatMap { if case .follow(let f) = $0 { f.stage } else { nil } }
                    var after = state
                    _ = reduce(&after, .key(key))
                    var (t, i, j) = start
                    switch entry.action {
                    case .tile(let r, let c): i = max(0, min(i + r, blocks.hb - 1)); j = max(0, min(j + c, blocks.wb - 1))
                    case .frame(let d): t = max(0, min(t + d, blocks.tb - 1))
                    case .nextStage:
                        let next = after.teaching.flatMap { if case .follow(let f) = $0 { f.stage } else { nil } }
                        #expect(next != nil && next != stage, "\(key)")
                    }
                    #expect(after.cursor == BlockPair(query: (t * blocks.hb + i) * blocks.wb + j, key: 3), "\(entry.help) from \(start)")
                    #expect({ if case .follow? = after.teaching { true } else { false } }(), "still in the follow view")
                }
            }
        }
        // The map's own keys still act there: the threshold key.
        let before = app.state.threshold
        try app.keys("<")
        #expect(app.state.threshold < before)
    }

    @Test("compare: c steps B through the presets, wrapping; sweep: w closes it")
    func compareAndSweep() throws {
        var app = TestApp.make()
        try app.keys("c")
        let presets = CompareView.presets(threshold: app.state.threshold, sta: app.state.sta, staWindow: app.state.staWindow)
        func preset(_ s: AppState) -> Int? { if case .compare(let c)? = s.teaching { c.preset } else { nil } }
        #expect(preset(app.state) == 0)
        let key = try #require(Keymap.compare.entries.first { $0.action == .nextPreset }?.keys.first)
        for step in 1...presets.count {
            app.send(.key(key))
            #expect(preset(app.state) == step % presets.count)
        }
        try app.keys("<Esc>w")
        #expect({ if case .sweep? = app.state.teaching { true } else { false } }())
        for entry in Keymap.sweep.entries {
            var state = app.state
            _ = reduce(&state, .key(entry.keys[0]))
            switch entry.action {
            case .close: #expect(state.teaching == nil)
            }
        }
    }

    @Test("model view: cursor keys move the cell stopping at the edges, [ ] n p wrap, r shows recall, Enter opens, m and Esc close")
    func model() throws {
        var (app, dir) = try ModelViewTests.makeApp()
        defer { try? FileManager.default.removeItem(at: dir) }
        try app.keys("m")
        let rows = ModelViewTests.prefixes.count, columns = app.state.heads
        for entry in Keymap.model.entries {
            for key in entry.keys {
                for start in [(0, 0), (rows - 1, columns - 1), (1, 1)] {
                    var state = app.state
                    state.model?.pair = start.0
                    state.model?.head = start.1
                    _ = reduce(&state, .key(key))
                    switch entry.action {
                    case .move(let dp, let dh):
                        #expect(state.model?.pair == max(0, min(start.0 + dp, rows - 1)), "\(key)")
                        #expect(state.model?.head == max(0, min(start.1 + dh, columns - 1)), "\(key)")
                    case .head(let d):
                        #expect(state.model?.head == ((start.1 + d) % columns + columns) % columns && state.model?.pair == start.0, "\(key)")
                    case .pair(let d):
                        #expect(state.model?.pair == ((start.0 + d) % rows + rows) % rows && state.model?.head == start.1, "\(key)")
                    case .open:
                        #expect(state.model == nil && state.head == start.1 && state.pairs?.index == start.0, "\(key)")
                    case .close:
                        #expect(state.model == nil && state.lastSurvey?.pair == start.0, "\(key)")
                    case .layer:
                        #expect(state.model?.layer == .recall && state.model?.pair == start.0 && state.model?.head == start.1, "\(key)")
                    }
                }
            }
        }
    }

    @Test("the help opened from a view lists that view's table under its name, and no other view's")
    func helpListsTheOpenViewsTable() throws {
        func check<A>(_ state: AppState, _ table: KeyTable<A>) {
            let lines = state.helpLines
            let start = lines.firstIndex { $0.header && $0.text == table.name }
            #expect(start != nil, "\(table.name)")
            guard let start else { return }
            let section = lines[(start + 1)...].prefix { !$0.header }.map(\.text)
            for entry in table.entries { #expect(section.contains { $0.hasSuffix("  " + entry.help) }, "\(table.name): \(entry.help)") }
            let others = [Keymap.model.name, Keymap.follow.name, Keymap.compare.name, Keymap.sweep.name, Keymap.methods.name].filter { $0 != table.name }
            #expect(!lines.contains { $0.header && others.contains($0.text) }, "\(table.name)")
        }
        var app = TestApp.make()
        #expect(!app.state.helpLines.contains { $0.header && $0.text == Keymap.follow.name })
        try app.keys("f")
        check(app.state, Keymap.follow)
        try app.keys("<Esc>c")
        check(app.state, Keymap.compare)
        try app.keys("<Esc>w")
        check(app.state, Keymap.sweep)
        var (model, dir) = try ModelViewTests.makeApp()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.keys("m")
        check(model.state, Keymap.model)
    }
}

/// The README's short keys table names keys the app binds, each to what the row says it does
/// (the full tables are docs/app.md's, checked in `PromptEditingTests.docsKeyTable`).
@Suite("README keys table")
struct ReadmeKeysTests {
    @Test("every key in the README's keys table is bound on the map or in a view's table")
    func readmeKeys() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Keys").dropFirst().first?.components(separatedBy: "\n## ").first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| keys") }
        var keys: [Key] = []
        for row in rows {
            for (i, quoted) in row.components(separatedBy: "`").enumerated() where i % 2 == 1 {
                for word in quoted.split(separator: " ") {
                    if word == "Esc" { keys.append(.escape) } else if word.count == 1 { keys.append(.character(word.first!)) }
                }
            }
        }
        #expect(keys.count >= 25, "the table lists \(keys.count) keys")
        let bound = Set(Keymap.standard.bindings.flatMap(\.keys) + Keymap.model.entries.flatMap(\.keys))
        for key in keys { #expect(bound.contains(key), "README names \(key), which nothing binds") }
        // The rows' claims for a few keys, against the keymap's actions.
        #expect(Keymap.standard.action(for: .character("{")) == .changeThreshold(hundredths: -10))
        #expect(Keymap.standard.action(for: .character(">")) == .changeThreshold(hundredths: 1))
        #expect(Keymap.standard.action(for: .character("M")) == .teach(.methods))
        #expect(Keymap.standard.action(for: .character("t")) == .toggleTrueMass)
    }
}
