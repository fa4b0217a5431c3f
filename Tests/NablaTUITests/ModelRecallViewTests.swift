import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The model view's recall layer (issue 19, item 3: "the model view uses estimates
/// first"): `r` shows every pair's recall, estimated (`~`, the mean over heads within
/// +-0.01, each head with its interval) for
/// every pair before any is exact, then exact pair by pair; closing the view stops its
/// work and keeps what was done.
@Suite("Model view recall")
struct ModelRecallViewTests {
    /// 8x32x32 tokens in 1x4x4 blocks: 512 query blocks per head, more than +-0.01 needs.
    static let grid = TokenGrid(t: 8, h: 32, w: 32)
    static let block = BlockShape(bt: 1, bh: 4, bw: 4)

    /// The model-view recall job among `effects`: its pair, whether exact, and the effect.
    static func recallJob(_ effects: [Effect]) -> (pair: Int, exact: Bool, effect: Effect)? {
        for e in effects {
            if case .surveyRecall(_, let pair, _, _, let how, _) = e { return (pair, how == .exact, e) }
        }
        return nil
    }

    /// Runs `effect` and hands its outcome to the app; returns the effects that follow.
    static func run(_ effect: Effect, _ app: inout HeadlessApp) -> [Effect] {
        let outcome = Jobs.perform(effect, loader: ModelViewTests.loader)
        return reduce(&app.state, .jobFinished(lane: effect.lane, generation: effect.generation ?? -1, outcome: outcome))
    }

    @Test("r: every pair estimated (~) before any is exact, from the selected pair on; estimates (mean within +-0.01) cover the exact values; the exact ones equal the all-heads true mass")
    func estimatesFirstThenExact() throws {
        var (app, dir) = try ModelViewTests.makeApp(size: Size(width: 120, height: 30), grid: Self.grid, block: Self.block)
        defer { try? FileManager.default.removeItem(at: dir) }
        try app.keys("mj")
        #expect(app.state.model?.pair == 1 && app.state.model?.density != nil)
        var effects = reduce(&app.state, .key(.character("r")))
        var order: [(Int, Bool)] = []
        var estimates: [RecallFigures] = []
        var sawEstimateOnScreen = false
        var estimateScreen = ""
        while let (pair, exact, effect) = Self.recallJob(effects) {
            order.append((pair, exact))
            effects = Self.run(effect, &app)
            let survey = try #require(app.state.model)
            if !exact {
                let figures = try #require(survey.recall[pair])
                estimates.append(figures)
                let k = try #require(figures.sampled, "an estimate rests on a sample")
                #expect(k < figures.total && figures.overall.halfWidth <= SweepView.estimateHalfWidth)
                #expect(figures.perHead.allSatisfy { $0.ci95 != nil }, "each head's interval")
                if pair == 1 {
                    // The selected cell: drawn with ~, its interval and sample in the legend.
                    let text = app.screen.text
                    estimateScreen = text
                    let v = figures.perHead[0]
                    sawEstimateOnScreen = text.contains("~" + String(Int((v.value * 100).rounded())) + "%")
                        && text.contains("blocks.1 head 0: recall ~\(recallText(v, digits: 3)), density ")
                        && text.contains("from \(k) of \(figures.total) query blocks per head")
                        && text.contains("recall at thr 0.90") && text.contains("recall: 1/3 pairs ~ estimated, 0/3 exact")
                }
            }
        }
        #expect(sawEstimateOnScreen, "\(estimateScreen)")
        #expect(order.map(\.0) == [1, 2, 0, 1, 2, 0], "from the selected pair on, wrapping")
        #expect(order.map(\.1) == [false, false, false, true, true, true], "every estimate before any exact recall")
        let survey = try #require(app.state.model)
        #expect(app.state.job == nil && survey.working == nil)
        var covered = 0
        for (i, prefix) in ModelViewTests.prefixes.enumerated() {
            let exact = try #require(survey.recall[i])
            #expect(exact.sampled == nil && exact.perHead.allSatisfy { $0.ci95 == nil })
            // Independently: every head's true block mass packed at once.
            let request = InputSpec(source: .latent(TensorSource(path: dir.appendingPathComponent("dump.safetensors").path, key: prefix)))
            let input = try ModelViewTests.loader(request, Self.block, .none)
            let map = try #require(try PooledMap.compute(input, block: Self.block))
            let r = try AttentionOperands(input: input, blocks: map.blocks).trueBlockMass()
                .recall(of: KeptKeyBlocks(map.cut(MaskSettings(threshold: 0.9, sta: nil))))
            for h in 0..<input.heads {
                #expect(abs(exact.perHead[h].value - r.recall(slot: h)) < 1e-9, "\(prefix) head \(h)")
                // Estimates came in the order 1, 2, 0.
                let estimate = estimates[(i + 2) % 3].perHead[h]
                if try #require(estimate.ci95).contains(r.recall(slot: h)) { covered += 1 }
            }
        }
        #expect(covered >= 8, "\(covered) of 9 intervals cover the exact recall")
        let done = app.screen.text
        #expect(done.contains("recall: 0/3 pairs ~ estimated, 3/3 exact") && !done.contains("~ estimate:"), "\(done)")
        #expect(done.contains("blocks.1 head 0: recall \(fixed(try #require(survey.recall[1]).perHead[0].value, 3))"), "\(done)")
    }

    @Test("closing the view stops its recall work and keeps the estimates; reopening goes on where it stopped; r back to density stops it too")
    func closeStopsAndReopenResumes() throws {
        var (app, dir) = try ModelViewTests.makeApp(grid: Self.grid, block: Self.block)
        defer { try? FileManager.default.removeItem(at: dir) }
        try app.keys("m")
        let first = try #require(Self.recallJob(reduce(&app.state, .key(.character("r")))))
        #expect(first.pair == 0 && !first.exact)
        let second = try #require(Self.recallJob(Self.run(first.effect, &app)))
        #expect(second.pair == 1 && !second.exact && app.state.job != nil)
        _ = reduce(&app.state, .key(.escape))
        #expect(app.state.model == nil && app.state.job == nil, "Esc closes the view and stops its job")
        #expect((second.effect.generation ?? 0) < app.state.newestGeneration(.map), "the job is stale")
        // Its late result is dropped.
        _ = Self.run(second.effect, &app)
        let kept = try #require(app.state.lastSurvey)
        #expect(kept.recall[0]?.sampled != nil && kept.recall[1] == nil)
        // Reopened: the estimate is there, and the next pair's is asked.
        let again = try #require(Self.recallJob(reduce(&app.state, .key(.character("m")))))
        #expect(again.pair == 1 && !again.exact && app.state.model?.recall[0]?.sampled != nil)
        // r: back to density, the work stops; the estimates stay for the next r.
        _ = reduce(&app.state, .key(.character("r")))
        #expect(app.state.model?.layer == .density && app.state.job == nil)
        #expect(Self.recallJob(reduce(&app.state, .key(.character("j")))) == nil, "no recall work on the density layer")
        #expect(app.state.model?.recall[0]?.sampled != nil)
    }

    @Test("a threshold change in the view drops the recall of the old settings and estimates again")
    func thresholdChangeEstimatesAgain() throws {
        var (app, dir) = try ModelViewTests.makeApp(grid: Self.grid, block: Self.block)
        defer { try? FileManager.default.removeItem(at: dir) }
        try app.keys("mr")
        #expect(app.state.model?.recall.allSatisfy { $0 != nil && $0?.sampled == nil } == true, "headless: everything ran")
        let before = try #require(app.state.model?.recall[0]?.perHead[0].value)
        // . raises the threshold: the density is computed again first (map lane), then recall.
        let survey = reduce(&app.state, .key(.character(".")))
        #expect(app.state.model?.recall.isEmpty == true)
        guard case .surveyModel? = survey.first(where: { if case .surveyModel = $0 { true } else { false } }) else {
            Issue.record("no survey asked: \(survey)")
            return
        }
        let next = try #require(Self.recallJob(Self.run(survey.first { $0.lane == .map }!, &app)))
        #expect(next.pair == 0 && !next.exact)
        _ = Self.run(next.effect, &app)
        let after = try #require(app.state.model?.recall[0]?.perHead[0])
        #expect(abs((app.state.model?.settings?.threshold ?? 0) - 0.91) < 1e-9)
        #expect(after.value != before, "the recall of the new threshold")
    }

    @Test("the density pooled in one pass per pair (the token-level loader never asked) equals the survey of whole loads")
    func surveyPooled() throws {
        let (app, dir) = try ModelViewTests.makeApp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let pairs = try #require(app.state.pairs)
        let effect = Effect.surveyModel(pairs: pairs, block: .nabla, settings: MaskSettings(threshold: 0.9, sta: nil), generation: 1)
        let whole = Jobs.perform(effect, loader: ModelViewTests.loader)
        let pooled = Jobs.perform(effect, loader: { _, _, _ in throw NablaError(.badArgument, "the token-level loader was asked") },
                                  pooledLoader: { request, block, _ in try request.loadPooled(block: block) })
        guard case .surveyed(let a, _, _) = whole, case .surveyed(let b, _, _) = pooled else {
            Issue.record("\(whole) / \(pooled)")
            return
        }
        #expect(a == b && a.count == ModelViewTests.prefixes.count)
    }
}
