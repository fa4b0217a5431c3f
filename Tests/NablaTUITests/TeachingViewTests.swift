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
        #expect(app.screen.lines.last?.contains("error: mask spec 'thr=7'") == true)
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
