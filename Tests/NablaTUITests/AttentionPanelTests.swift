import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The timing panel's attention: requested off the reducer after every change, newest
/// request wins, stale results dropped, and the pooled/true mass map switch.
@Suite("Attention in the timing panel")
struct AttentionPanelTests {
    /// The test input with V (values a smooth function of position).
    static func inputWithV() -> QKInput {
        let qk = TestApp.input()
        let count = qk.heads * qk.grid.tokens * qk.headDim
        let v = (0..<count).map { Float(sin(Double($0) * 0.37)) }
        return QKInput(name: "test", q: qk.q, k: qk.k,
                       v: HeadTokens(v, heads: qk.heads, tokens: qk.grid.tokens, headDim: qk.headDim),
                       grid: qk.grid, order: qk.order)
    }

    static func app() -> HeadlessApp {
        var app = TestApp.make(input: inputWithV())
        app.state.pinnedTimes = TestApp.times + StageTimes([("sparse", 12.5), ("dense", 50.0)])
        return app
    }

    @Test("sparse and dense times, speed-up and ideal, error, recall and oracle for the current head")
    func panel() throws {
        let app = Self.app()
        let panel = try #require(app.state.attention)
        #expect(panel.head == 0 && panel.pending.isEmpty && app.state.attentionJob == nil)
        #expect(panel.sparseMs != nil && panel.denseMs != nil)
        let error = try #require(panel.error)
        #expect(error > 0 && error < 1)
        let recall = try #require(panel.recall)
        #expect(recall.recall(slot: 0) <= recall.oracle(slot: 0) + 1e-12 && recall.oracle(slot: 0) <= 1 + 1e-9)
        let text = app.screen.text
        #expect(text.contains("sparse    12.50  dense     50.00"))
        #expect(text.contains("speed-up 4.00x  ideal "))
        #expect(text.contains(String(format: "error %.1e", error)))
        #expect(text.contains("recall " + fixed(recall.recall(slot: 0), 3) + " / oracle " + fixed(recall.oracle(slot: 0), 3)))
        // The kernel level and dense attention's share of the (pinned) peak: 4 D B^2 N^2
        // flops of the head in the pinned 50 ms.
        let map = try #require(app.state.map)
        let b = Double(map.blocks.block.tokens), n = Double(map.n), d = Double(app.state.input!.headDim)
        let share = 4 * d * b * b * n * n / 0.050 / TestApp.pinnedPeak * 100
        #expect(text.contains("kernels avx2 · dense " + fixed(share, 2) + "% of FMA peak"), "\(text)")
    }

    @Test("a head change asks for attention in the background; an older result is dropped")
    func newestWins() throws {
        var app = Self.app()
        let before = app.state.attentionGeneration
        // The reducer only asks: nothing is computed until the host runs the effects.
        // (The new head's cuts one key away are asked for too, on the re-cut lane.)
        let effects = reduce(&app.state, .key(.character("]"))).filter { $0.lane == .attention }
        // The recall estimate first, then the exact recall, sparse and dense.
        #expect(effects.count == 4)
        #expect(effects.allSatisfy { $0.generation == before + 1 })
        #expect(app.state.attention?.head == 1 && app.state.attention?.sparseMs == nil)
        #expect(app.state.attentionJob != nil)
        // A spinner shows that attention is running.
        let spinner = app.state.theme.glyphs.spinner
        #expect(app.screen.text.contains("attention, head 1, ms " + String(spinner[app.state.spinner % spinner.count])))

        // A result of the older request arrives late: dropped.
        guard case .computeAttention(let job, _) = effects[0] else { Issue.record("not attention"); return }
        let stale = Jobs.perform(.computeAttention(job, generation: before), loader: TestApp.loader())
        _ = reduce(&app.state, .jobFinished(lane: .attention, generation: before, outcome: stale))
        #expect(app.state.attention?.mass == nil)

        // Another key before the jobs finish: a newer generation; the first ones' results
        // are dropped too.
        let newer = reduce(&app.state, .key(.character("]")))
        for effect in effects {
            _ = reduce(&app.state, .finished(effect, Jobs.perform(effect, loader: TestApp.loader())))
        }
        #expect(app.state.attention?.head == 2 && app.state.attention?.mass == nil)
        for effect in newer {
            _ = reduce(&app.state, .finished(effect, Jobs.perform(effect, loader: TestApp.loader())))
        }
        #expect(app.state.attention?.head == 2 && app.state.attention?.mass != nil && app.state.attention?.error != nil)
        #expect(app.state.attentionJob == nil)
    }

    @Test("a threshold change re-derives recall at once and re-runs only sparse attention")
    func thresholdChange() throws {
        var app = Self.app()
        let dense = app.state.attention?.denseMs
        // Attention waits for the mask of every head: the re-cut's outcome asks for it.
        let cut = reduce(&app.state, .key(.character("{"))).filter(\.isCutHeads)
        #expect(cut.count == 1)
        let effects = reduce(&app.state, .finished(cut[0],
                                                      Jobs.perform(cut[0], loader: TestApp.loader())))
        let stages = effects.compactMap { e -> AttentionJob.Stage? in
            if case .computeAttention(let job, _) = e { return job.stage }
            return nil
        }
        #expect(stages == [.sparse])
        let panel = try #require(app.state.attention)
        #expect(panel.denseMs == dense && panel.sparseMs == nil && panel.recall != nil)
        let mask = try #require(app.state.mask)
        let want = try #require(panel.mass).recall(of: KeptKeyBlocks(mask))
        #expect(panel.recall?.recall(slot: 0) == want.recall(slot: 0))
    }

    @Test("t switches the map between the pooled estimate and the true block mass")
    func trueMassMap() throws {
        var app = Self.app()
        try app.keys("++++")
        let pooled = app.screen
        try app.keys("t")
        #expect(app.state.showTrueMass)
        let truth = app.screen
        #expect(truth.text.contains("true mass"))
        #expect(!pooled.text.contains("true mass"))
        // Same kept blocks, other colours: the pixels differ where the estimate is off.
        #expect(truth.cells != pooled.cells)
        try app.keys("t")
        #expect(app.screen.text == pooled.text)
    }
}
