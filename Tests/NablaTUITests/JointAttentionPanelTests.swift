import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// The timing panel's attention on a joint text-video input (issue 18, item 2): it runs
/// (the kernels take the text as extra blocks, every text row and column kept), its recall
/// is the exact joint recall (`JointRecall`, a separate O(S^2) computation), and the true
/// mass map the `t` switch draws is the video-to-video part, on the map's blocks.
@Suite("Attention in the timing panel, joint text tokens")
struct JointAttentionPanelTests {
    /// `AttentionPanelTests.inputWithV()` with 20 text tokens at `place` (Q, K and V of the
    /// text smooth functions of their index).
    static func input(place: TextPlace) -> QKInput {
        var input = AttentionPanelTests.inputWithV()
        let nt = 20, heads = input.heads, d = input.headDim
        func values(_ phase: Double) -> HeadTokens {
            HeadTokens((0..<(heads * nt * d)).map { Float(sin(Double($0) * 0.29 + phase)) }, heads: heads, tokens: nt, headDim: d)
        }
        input.text = TextQK(tokens: TextTokens(count: nt, place: place), q: values(0.3), k: values(1.1), v: values(2.0))
        return input
    }

    @Test("recall equals the exact joint recall; the error is there; t draws the video part of the true mass",
          arguments: [TextPlace.start, .end])
    func panel(place: TextPlace) throws {
        let input = Self.input(place: place)
        var app = TestApp.make(input: input)
        app.state.pinnedTimes = TestApp.times + StageTimes([("sparse", 12.5), ("dense", 50.0)])
        let panel = try #require(app.state.attention)
        #expect(panel.failure == nil && panel.pending.isEmpty)
        let map = try #require(app.state.map), mask = try #require(app.state.mask)
        // 4x16x16 with 1x8x8: 16 video blocks; 20 text tokens: one text block.
        let mass = try #require(panel.mass)
        #expect(mass.n == map.n + 1 && mass.joint != nil)
        #expect(panel.shownMass?.n == map.n)
        let want = try JointRecall.recall(input: input, mask: mask)
        let recall = try #require(panel.recall)
        #expect(abs(recall.recall(slot: 0) - want[panel.head]) < 1e-5, "\(recall.recall(slot: 0)) vs \(want[panel.head])")
        #expect(recall.recall(slot: 0) < 1)
        #expect(panel.error.map { $0 > 0 } == true)
        try app.keys("t")
        #expect(app.state.showTrueMass && app.screen.text.contains("true mass"))
    }
}
