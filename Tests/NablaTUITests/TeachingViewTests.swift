import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The compare, follow and sweep views: reached by their keys, left with Esc, their
/// figures checked against values computed here from the engine's masks.
@Suite("Teaching views")
struct TeachingViewTests {
    /// Block-level Jaccard of two `[heads, N, N]` masks for head `h`, written for the test.
    static func jaccard(_ a: [UInt8], _ b: [UInt8], head h: Int, n: Int) -> Double {
        var inter = 0, union = 0
        for i in (h * n * n)..<((h + 1) * n * n) {
            if a[i] != 0 && b[i] != 0 { inter += 1 }
            if a[i] != 0 || b[i] != 0 { union += 1 }
        }
        return Double(inter) / Double(union)
    }

    @Test("compare: c opens it against STA alone, c again steps B, Esc leaves; the Jaccard shown is the masks'")
    func compare() throws {
        var app = TestApp.make()
        try app.keys("]c")
        guard case .compare(let view)? = app.state.teaching, let c = view.comparison else {
            Issue.record("compare view not open")
            return
        }
        let map = try #require(app.state.map), mask = try #require(app.state.mask)
        let sta = staPattern(map.blocks, window: .kandinsky)
        let want = Self.jaccard(mask.kept, Array([[UInt8]](repeating: sta, count: map.heads).joined()), head: 1, n: map.n)
        #expect(abs(c.jaccard(head: 1) - want) < 1e-12)
        let text = app.screen.text
        #expect(text.contains("Jaccard " + fixed(want, 3)))
        #expect(text.contains("B STA 11x3x3"))
        // c again: the current mask with STA toggled on.
        try app.keys("c")
        guard case .compare(let next)? = app.state.teaching else { Issue.record("compare closed"); return }
        #expect(next.spec == MaskSpec(.cut(MaskSettings(threshold: 0.9, sta: .kandinsky))))
        // A threshold change re-makes the comparison.
        try app.keys("{")
        guard case .compare(let lower)? = app.state.teaching, let lc = lower.comparison else { Issue.record("compare closed"); return }
        #expect(lc.a.density == app.state.mask!.statistics.density)
        try app.keys("<Esc>")
        #expect(app.state.teaching == nil)
        #expect(app.screen.text.contains("frame coverage"))
    }

    @Test(":compare SPEC compares with any spec; a bad one is an error in the status line")
    func comparePrompt() throws {
        var app = TestApp.make()
        try app.keys(":compare thr=0.5<Enter>")
        guard case .compare(let view)? = app.state.teaching, let c = view.comparison else {
            Issue.record("compare view not open")
            return
        }
        let b = app.state.map!.cut(MaskSettings(threshold: 0.5))
        #expect(c.b.kept == b.kept)
        #expect(abs(c.jaccard(head: 0) - Self.jaccard(app.state.mask!.kept, b.kept, head: 0, n: b.n)) < 1e-12)
        try app.keys(":compare block=1x4x4,thr=0.5<Enter>")
        guard case .compare(let other)? = app.state.teaching else { Issue.record("compare closed"); return }
        #expect(other.comparison == nil && other.problem?.contains("nabla diff") == true)
        try app.keys("<Esc>:compare thr=7<Enter>")
        #expect(app.screen.text.contains("error: mask spec 'thr=7'"))
    }

    @Test("compare view snapshots", arguments: [Size(width: 120, height: 40), Size(width: 80, height: 24)])
    func compareSnapshots(size: Size) throws {
        var app = TestApp.make(size: size)
        try app.keys("c")
        expectSnapshot(app.screen, "compare-\(size)")
        var mono = TestApp.make(size: size, mode: .mono)
        try mono.keys("cc")
        expectSnapshot(mono.screen, "compare-mono-\(size)")
    }
}

@Suite("Follow view")
struct FollowViewTests {
    @Test("f opens it on the cursor's query block; arrows step tiles, K J frames; f again plays the stages; Esc leaves")
    func keys() throws {
        var app = TestApp.make()
        let start = app.state.cursor.query
        try app.keys("f")
        guard case .follow(let view)? = app.state.teaching else { Issue.record("follow not open"); return }
        #expect(view.stage == .final)
        let blocks = try #require(app.state.map?.blocks)
        let c = blocks.coordinates(of: start)
        try app.keys("<Right>")
        #expect(app.state.cursor.query == start + 1)
        try app.keys("<Down>")
        #expect(blocks.coordinates(of: app.state.cursor.query) == (c.t, c.i + 1, c.j + 1))
        try app.keys("J")
        #expect(blocks.coordinates(of: app.state.cursor.query) == (c.t + 1, c.i + 1, c.j + 1))
        var stages: [FollowView.Stage] = []
        for _ in 0..<7 {
            try app.keys("f")
            if case .follow(let v)? = app.state.teaching { stages.append(v.stage) }
        }
        #expect(stages == FollowView.Stage.allCases)
        #expect(app.screen.text.contains(FollowView.Stage.final.caption.prefix(30)))
        try app.keys("<Esc>")
        #expect(app.state.teaching == nil)
    }

    @Test("the row's kept count and mass are the mask's row: cut and STA, every stage drawn",
          arguments: [(0.9, nil), (0.5, STAWindow(wt: 3, wh: 1, ww: 1)), (0.99, STAWindow(wt: 1, wh: 3, ww: 3))] as [(Double, STAWindow?)])
    func figures(threshold: Double, sta: STAWindow?) throws {
        var app = TestApp.make()
        app.state.threshold = threshold
        app.state.sta = sta
        app.send(.tick)  // re-cuts
        try app.keys("]f")
        let map = try #require(app.state.map), mask = try #require(app.state.mask)
        for q in [0, 7, map.n - 1] {
            app.state.cursor = BlockPair(query: q, key: 0)
            let trace = RowTrace(map: map, head: 1, query: q, settings: app.state.settings)
            let row = (0..<map.n).map { mask.isKept(head: 1, query: q, key: $0) }
            #expect(trace.kept == row)
            let mass = (0..<map.n).filter { row[$0] }.reduce(0.0) { $0 + map.probability(head: 1, query: q, key: $1) }
            let text = app.screen.text
            #expect(text.contains("kept \(row.filter { $0 }.count) of \(map.n) · mass \(fixed(mass, 4))"), "row \(q)")
        }
    }

    @Test("follow view snapshots", arguments: [Size(width: 120, height: 40), Size(width: 80, height: 24)])
    func snapshots(size: Size) throws {
        var app = TestApp.make(size: size, arguments: ["preview"])
        try app.keys(":sta 1x3x3<Enter>f")
        expectSnapshot(app.screen, "follow-\(size)")
        var mono = TestApp.make(size: size, mode: .mono)
        try mono.keys("fffff")
        expectSnapshot(mono.screen, "follow-sort-mono-\(size)")
    }
}

@Suite("Sweep view")
struct SweepViewTests {
    @Test("w opens it: densities are the engine's cuts at each threshold, never falling; thr keys move the mark; Esc leaves")
    func sweep() throws {
        var app = TestApp.make()
        try app.keys("w")
        guard case .sweep(let view)? = app.state.teaching, let sweep = view.sweep else { Issue.record("sweep not open"); return }
        let map = try #require(app.state.map)
        #expect(sweep.thresholds.count == 21)
        for (i, t) in sweep.thresholds.enumerated() {
            #expect(sweep.density[i] == map.cut(MaskSettings(threshold: t)).statistics.density)
            if i > 0 { #expect(zip(sweep.density[i - 1], sweep.density[i]).allSatisfy { $0 <= $1 }) }
        }
        // The test input is small: recall is computed, and all-ones keeps everything.
        let recall = try #require(sweep.recall)
        #expect(recall.last!.allSatisfy { abs($0 - 1) < 1e-4 }, "\(recall.last!)")
        #expect(app.screen.text.contains("thr 0.90"))
        try app.keys("{")
        #expect(app.screen.text.contains("thr 0.80"))
        guard case .sweep(let same)? = app.state.teaching else { Issue.record("sweep closed"); return }
        #expect(same.sweep?.density == sweep.density)
        try app.keys("<Esc>")
        #expect(app.state.teaching == nil)
    }

    @Test("sweep view snapshots", arguments: [Size(width: 120, height: 40), Size(width: 80, height: 24)])
    func snapshots(size: Size) throws {
        var app = TestApp.make(size: size)
        try app.keys("w")
        expectSnapshot(app.screen, "sweep-\(size)")
        var mono = TestApp.make(size: size, mode: .mono)
        try mono.keys("]w")
        expectSnapshot(mono.screen, "sweep-mono-\(size)")
    }
}

@Suite(":plot")
struct PlotPromptTests {
    @Test(":plot FILE.svg writes the view on screen as SVG; other extensions are refused")
    func plot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-plot-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var app = TestApp.make()
        for (keys, name, title) in [("", "map", "head 0 ·"), ("c", "compare", "compare · head 0"), ("<Esc>f", "row", "query block"),
                                    ("<Esc>w", "sweep", "threshold sweep")] {
            try app.keys(keys + ":plot \(dir)/\(name).svg<Enter>")
            let text = try String(contentsOfFile: "\(dir)/\(name).svg", encoding: .utf8)
            #expect(text.hasPrefix("<?xml") && text.contains("<svg") && text.hasSuffix("</svg>\n"), "\(name)")
            #expect(text.contains(title), "\(name)")
            #expect(app.screen.text.contains("wrote \(dir)/\(name).svg"))
        }
        try app.keys("<Esc>:plot \(dir)/x.png<Enter>")
        #expect(app.screen.text.contains("the app writes SVG"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.png"))
    }
}
