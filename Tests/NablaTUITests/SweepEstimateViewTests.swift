import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The sweep view's recall estimates (issue 19, item 3): asked before the exact figures,
/// drawn with `~` and their sample, replaced by the exact values when those come.
@Suite("Sweep view estimates")
struct SweepEstimateViewTests {
    @Test("the head's recall is estimated first: within +-0.01, covering the exact recall, shown with ~ until the exact figures replace it")
    func headEstimateFirst() throws {
        // 16x32x32 tokens in 1x8x8 blocks: 256 query blocks per head, more than +-0.01 needs.
        let input = TestApp.input(grid: TokenGrid(t: 16, h: 32, w: 32))
        var app = TestApp.make(input: input)
        let asked = settleTeaching(&app, reduce(&app.state, .key(.character("w"))), input: input)
        #expect(asked.count == 1 && asked[0].isSweepEstimate)
        let next = reduce(&app.state, .finished(asked[0], Jobs.perform(asked[0], loader: TestApp.loader(input)))).filter(\.isTeaching)
        guard case .sweep(let view)? = app.state.teaching, let (recall, head) = view.headEstimate, let sweep = view.sweep else {
            Issue.record("no estimate")
            return
        }
        let map = try #require(app.state.map)
        #expect(head == 0 && recall.count == SweepView.thresholds.count && view.kernels == nil)
        let k = try #require(recall[0].sampled, "the estimate must rest on a sample, not every block")
        #expect(k < map.n && recall.allSatisfy { $0.perHead[0].halfWidth <= SweepView.estimateHalfWidth })
        // The exact recall of head 0, from the full true-mass run.
        let exact = try AttentionOperands(input: input, blocks: map.blocks, heads: [0]).trueBlockMass()
        var covered = 0
        for (i, t) in sweep.thresholds.enumerated() {
            let truth = exact.recall(of: KeptKeyBlocks(map.cut(MaskSettings(threshold: t)))).recall(slot: 0)
            if try #require(recall[i].perHead[0].ci95).contains(truth) { covered += 1 }
        }
        #expect(covered >= 19, "\(covered) of 21 intervals cover the exact recall")
        let text = app.screen.text
        #expect(text.contains("recall ~, head 0"))
        #expect(text.contains("~ head: estimated from \(k) of \(map.n) query blocks"))
        let i9 = try #require(sweep.thresholds.firstIndex(of: 0.9))
        #expect(text.contains(fixed(recall[i9].perHead[0].value, 3) + "~"))
        // The kernel figures asked next replace the estimate on screen.
        #expect(next.count == 1 && !next[0].isSweepEstimate)
        _ = reduce(&app.state, .finished(next[0], Jobs.perform(next[0], loader: TestApp.loader(input))))
        let after = app.screen.text
        #expect(!after.contains("~ head: estimated") && after.contains("recall, head 0"))
    }

    @Test("the estimate of a head is not shown for another; a head change asks a new one")
    func headChange() throws {
        let input = TestApp.input(grid: TokenGrid(t: 16, h: 32, w: 32))
        var app = TestApp.make(input: input)
        let asked = settleTeaching(&app, reduce(&app.state, .key(.character("w"))), input: input)
        _ = reduce(&app.state, .finished(asked[0], Jobs.perform(asked[0], loader: TestApp.loader(input))))
        let again = reduce(&app.state, .key(.character("]"))).filter(\.isTeaching)
        #expect(again.count == 1 && again[0].isSweepEstimate)
        guard case .sweep(let view)? = app.state.teaching else { Issue.record("sweep closed"); return }
        #expect(view.headRecall(head: 1) == nil)
        // The superseded job's late result is dropped.
        _ = reduce(&app.state, .finished(asked[0], Jobs.perform(asked[0], loader: TestApp.loader(input))))
        guard case .sweep(let still)? = app.state.teaching else { Issue.record("sweep closed"); return }
        #expect(still.headRecall(head: 1) == nil)
    }
}
