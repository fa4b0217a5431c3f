import Foundation
import NablaCore
import NablaTestSupport
import Testing
@testable import NablaTUI

/// The methods view (`M`, issue 21): its curves are the methods' own sweeps
/// (`MethodSweep` on the whole input, the head's slot), their recall the token-level
/// reference's, the all-heads curves the mean computed here; Enter makes the point's mask
/// B of the compare view; results asked for older settings or another head are dropped.
@Suite("Methods view")
struct MethodsViewTests {
    /// Runs `effects` the way `settleTeaching` does, then the held (all-heads) jobs too.
    static func settleAll(_ app: inout HeadlessApp, _ effects: [Effect], input: QKInput) {
        var held = settleTeaching(&app, effects, input: input)
        while !held.isEmpty {
            let e = held.removeFirst()
            held += settleTeaching(&app, reduce(&app.state, .finished(e, Jobs.perform(e, loader: TestApp.loader(input)))), input: input)
        }
    }

    static func view(_ app: HeadlessApp) -> MethodsView? {
        if case .methods(let v)? = app.state.teaching { return v }
        return nil
    }

    @Test("M opens it; the head's curves are MethodSweep's rows of that head, recall as a token-level reference; ] follows the head")
    func headCurves() throws {
        let input = TestApp.input()
        var app = TestApp.make(input: input)
        let opened = reduce(&app.state, .key(.character("M")))
        #expect(app.state.teaching?.kind == .methods)
        #expect(app.screen.text.contains("computing every method on head 0…"))
        let held = settleTeaching(&app, opened, input: input)
        #expect(held.count == 1, "every head's sweep is asked after the head's")
        let map = try #require(app.state.map)
        let context = try MethodContext(input: input, blocks: map.blocks)
        let full = try MethodSweep(context: context, methods: SparseMethods.all)
        let n = map.n
        for head in [0, 1] {
            if head == 1 {
                try app.keys("]")
                _ = settleTeaching(&app, [], input: input)
            }
            let result = try #require(Self.view(app)?.head, "head \(head)")
            #expect(result.head == head && result.sweep.headIndices == [head])
            #expect(result.sweep.curves.map(\.name) == SparseMethods.all.map { $0.name })
            let naive = NaiveAttention(input, head: head, blocks: map.blocks)
            for (c, curve) in full.curves.enumerated() {
                #expect(result.sweep.curves[c].rows.count == curve.rows.count)
                for (i, row) in curve.rows.enumerated() {
                    let mine = result.sweep.curves[c].rows[i]
                    #expect(mine.spec == row.spec)
                    #expect(mine.density[0] == row.density[head], "\(row.setting) head \(head)")
                    #expect(abs(mine.recall[0] - row.recall[head]) < 1e-9, "\(row.setting) head \(head)")
                }
                // The recall against the token-level softmax, for the middle setting.
                let row = curve.rows[curve.rows.count / 2]
                let kept = try #require(try row.spec.method().kept(context))
                let want = naive.recall { kept[(head * n + $0) * n + $1] != 0 }
                #expect(abs(result.sweep.curves[c].rows[curve.rows.count / 2].recall[0] - want) < 1e-5, "\(row.setting)")
            }
            // The current settings: the app's own cut of the head.
            let cut = map.cut(app.state.settings)
            #expect(result.current.density[0] == cut.statistics.density[head])
            #expect(abs(result.current.recall[0] - naive.recall { cut.isKept(head: head, query: $0, key: $1) }) < 1e-5)
        }
        let text = app.screen.text
        #expect(text.contains("sparse methods") && text.contains("rec@10%") && text.contains("xattention"))
        #expect(text.contains("* now: nabla thr 0.90"))
        try app.keys("<Esc>")
        #expect(app.state.teaching == nil)
    }

    @Test("a shows every head averaged: density and recall are the means over heads of the methods' own sweep")
    func allHeads() throws {
        let input = TestApp.input()
        var app = TestApp.make(input: input)
        Self.settleAll(&app, reduce(&app.state, .key(.character("M"))), input: input)
        let all = try #require(Self.view(app)?.all)
        #expect(all.head == nil)
        let map = try #require(app.state.map)
        let full = try MethodSweep(context: try MethodContext(input: input, blocks: map.blocks), methods: SparseMethods.all)
        for (c, curve) in full.curves.enumerated() {
            for (i, row) in curve.rows.enumerated() {
                let density = row.density.reduce(0, +) / Double(map.heads)
                let recall = row.recall.reduce(0, +) / Double(map.heads)
                let points = all.points(c)
                let p = try #require(points.first { $0.row == i })
                #expect(abs(p.density - density) < 1e-12 && abs(p.recall - recall) < 1e-9, "\(row.setting)")
            }
        }
        try app.keys("a")
        #expect(Self.view(app)?.showAll == true)
        #expect(app.screen.text.contains("all heads averaged"))
        #expect(app.screen.text.contains("all \(map.heads) heads averaged"))
    }

    @Test("the arrows walk the points; Enter makes that method's mask B of the compare view")
    func enterCompares() throws {
        let input = TestApp.input()
        var app = TestApp.make(input: input)
        _ = settleTeaching(&app, reduce(&app.state, .key(.character("M"))), input: input)
        try app.keys("<Down><Down><Right><Right><Left><Right>")
        let view = try #require(Self.view(app))
        #expect(view.cursor == MethodsCursor(curve: 2, row: 2))
        let result = try #require(view.head)
        let row = result.sweep.curves[2].rows[result.points(2)[2].row]
        #expect(row.spec.name == "vsa")
        #expect(app.screen.text.contains("selected: \(row.setting)"))
        let effects = reduce(&app.state, .key(.enter))
        guard case .compare(let compare)? = app.state.teaching else { Issue.record("compare not open"); return }
        let map = try #require(app.state.map)
        #expect(compare.spec == MaskSpec(.method(row.spec), block: map.blocks.block))
        _ = settleTeaching(&app, effects, input: input)
        guard case .compare(let done)? = app.state.teaching, let b = done.comparison?.b else { Issue.record("no B"); return }
        // B is the method's own mask on the whole input.
        let want = try #require(try row.spec.method().kept(try MethodContext(input: input, blocks: map.blocks)))
        #expect(b.kept == want)
    }

    @Test("a threshold change asks no new sweep, only the marker; results asked before a head change are dropped")
    func staleDropped() throws {
        let input = TestApp.input()
        var app = TestApp.make(input: input)
        func perform(_ e: Effect) -> JobOutcome { Jobs.perform(e, loader: TestApp.loader(input)) }
        let first = reduce(&app.state, .key(.character("M"))).filter(\.isTeaching)
        #expect(first.count == 1 && first[0].isTeachingBasis)
        // The curves do not depend on the threshold: nothing is asked while the sweep runs.
        #expect(reduce(&app.state, .key(.character("{"))).filter(\.isTeaching).isEmpty)
        // The sweep comes in (marked at 0.9, where it was asked); the marker at 0.8 is asked next.
        let mark = reduce(&app.state, .finished(first[0], perform(first[0]))).filter(\.isTeaching)
        #expect(Self.view(app)?.head?.markedAt.threshold == 0.9)
        #expect(mark.count == 1 && mark[0].isMethodsMark)
        let map = try #require(app.state.map)
        _ = reduce(&app.state, .finished(mark[0], perform(mark[0])))
        let marked = try #require(Self.view(app)?.head)
        #expect(marked.markedAt.threshold == 0.8)
        #expect(marked.current.density[0] == map.cut(MaskSettings(threshold: 0.8)).statistics.density[0])
        // A head change asks a new sweep; a late result for head 0 is then dropped.
        let third = reduce(&app.state, .key(.character("]"))).filter(\.isTeaching)
        #expect(third.count == 1 && !third[0].isMethodsMark)
        if case .computeTeaching(let job, _) = first[0] {
            _ = reduce(&app.state, .finished(.computeTeaching(job, generation: app.state.teachingGeneration), perform(first[0])))
            #expect(Self.view(app)?.head == nil, "a result for head 0 after ] is dropped")
        }
        _ = settleTeaching(&app, reduce(&app.state, .finished(third[0], perform(third[0]))), input: input)
        let result = try #require(Self.view(app)?.head)
        #expect(result.head == 1)
        #expect(abs(app.state.threshold - 0.8) < 1e-9)
        #expect(result.current.density[0] == map.cut(MaskSettings(threshold: 0.8)).statistics.density[1])
    }

    @Test("the marker after a threshold or STA change equals the one a new sweep makes, the curves unchanged; a superseded all-heads sweep is asked again")
    func markerOnly() throws {
        let input = TestApp.input()
        var app = TestApp.make(input: input)
        Self.settleAll(&app, reduce(&app.state, .key(.character("M"))), input: input)
        let before = try #require(Self.view(app))
        let curves = try #require(before.head).sweep.curves.map { $0.rows.map(\.recall) }
        #expect(before.all != nil)
        // Two threshold steps and STA on: one marker job each time, no sweep.
        for keys in ["{", "{", "s"] {
            let asked = reduce(&app.state, .key(.character(keys.first!))).filter(\.isTeaching)
            #expect(asked.count == 1 && asked[0].isMethodsMark, "\(keys)")
            Self.settleAll(&app, asked, input: input)
        }
        let after = try #require(Self.view(app))
        #expect(try #require(after.head).sweep.curves.map { $0.rows.map(\.recall) } == curves)
        // What a fresh sweep at these settings marks, for the head and for every head.
        let map = try #require(app.state.map)
        let one = try input.selecting(HeadSelection([0]))
        let fresh = try MethodSweep(context: try MethodContext(input: one, blocks: map.blocks), methods: [NablaMethod.self],
                                    settings: [NablaMethod.name: [NablaMethod(app.state.settings)]]).curves[0].rows[0]
        let head = try #require(after.head), all = try #require(after.all)
        #expect(head.markedAt == app.state.settings && all.markedAt == app.state.settings)
        #expect(head.current.density == fresh.density && abs(head.current.recall[0] - fresh.recall[0]) < 1e-12)
        let cut = map.cut(app.state.settings)
        #expect(abs(all.current.meanDensity - cut.statistics.density.reduce(0, +) / Double(map.heads)) < 1e-12)
        // A threshold change while every head's sweep runs supersedes it: asked again after the marker.
        var app2 = TestApp.make(input: input)
        let head2 = settleTeaching(&app2, reduce(&app2.state, .key(.character("M"))), input: input)
        #expect(head2.count == 1 && !head2[0].isMethodsMark, "every head's sweep")
        let mark2 = reduce(&app2.state, .key(.character("{"))).filter(\.isTeaching)
        #expect(mark2.count == 1 && mark2[0].isMethodsMark)
        let again = reduce(&app2.state, .finished(mark2[0], Jobs.perform(mark2[0], loader: TestApp.loader(input)))).filter(\.isTeaching)
        #expect(again.count == 1 && !again[0].isMethodsMark, "every head's sweep asked again")
    }

    @Test("M from the sweep view: Esc goes back to the sweep; M again leaves as Esc does")
    func fromSweep() throws {
        var app = TestApp.make()
        try app.keys("wM")
        #expect(Self.view(app)?.fromSweep == true)
        try app.keys("<Esc>")
        #expect(app.state.teaching?.kind == .sweep)
        try app.keys("<Esc>M")
        #expect(Self.view(app)?.fromSweep == false)
        try app.keys("M")
        #expect(app.state.teaching == nil)
    }
}

extension Effect {
    /// Whether it is the methods view's marker job (`TeachingJob.Work.methodsMark`).
    var isMethodsMark: Bool {
        if case .computeTeaching(let job, _) = self, case .methodsMark = job.work { return true }
        return false
    }
}
