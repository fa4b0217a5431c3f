import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The timing panel's recall estimate: asked first, shown with its interval and sample
/// until the exact recall replaces it.
@Suite("Recall estimate in the timing panel")
struct AttentionEstimatePanelTests {
    @Test("recall +- interval (k/N blocks) while the exact recall runs, then the exact value")
    func estimateThenExact() throws {
        // 8x32x32 tokens, blocks 1x8x8: 128 query blocks, 16 per frame slab.
        var app = TestApp.make(input: TestApp.input(grid: TokenGrid(t: 8, h: 32, w: 32), values: true))
        let effects = reduce(&app.state, .key(.character("]"))).filter { $0.lane == .attention }
        let stages = effects.compactMap { e -> AttentionJob.Stage? in
            if case .computeAttention(let job, _) = e { return job.stage }
            return nil
        }
        #expect(stages == [.estimate, .recall, .sparse, .dense])
        guard case .computeAttention(let job, let generation) = effects[0] else { Issue.record("not attention"); return }
        // An estimate from 32 blocks, as the stage reports one.
        let ops = try AttentionOperands(input: job.input, blocks: job.blocks, heads: [job.head])
        let estimator = try AttentionEstimator(operands: ops, kept: KeptKeyBlocks(job.mask), error: false, seed: 0)
        estimator.advance(to: 32)
        let e = estimator.estimates[0]
        #expect(!e.isExact && e.recall.ci95 != nil)
        _ = reduce(&app.state, .jobFinished(lane: .attention, generation: generation, outcome: .attention(.estimate, .estimated(e))))
        let digits = e.recall.halfWidth < 0.01 ? 3 : 2
        let shown = "recall " + fixed(e.recall.value, digits) + " +- " + fixed(e.recall.halfWidth, digits) + " (32/128 blocks)"
        #expect(app.screen.text.contains(shown), "\(app.screen.text)")
        // The stage itself: an estimate of the same head, within its budget's rule.
        guard case .attention(.estimate, .estimated(let own)) = Jobs.perform(effects[0], loader: TestApp.loader()) else {
            Issue.record("no estimate"); return
        }
        #expect(own.head == job.head && (own.isExact || own.recall.halfWidth <= AttentionJob.estimateHalfWidth))
        // The exact recall replaces the estimate and covers it within its interval here.
        let exact = Jobs.perform(effects[1], loader: TestApp.loader())
        _ = reduce(&app.state, .jobFinished(lane: .attention, generation: generation, outcome: exact))
        let recall = try #require(app.state.attention?.recall)
        #expect(app.screen.text.contains("recall " + fixed(recall.recall(slot: 0), 3) + " / oracle "))
        #expect(!app.screen.text.contains("(32/128 blocks)"))
        #expect(try #require(e.recall.ci95).contains(recall.recall(slot: 0)))
    }
}
