import Foundation
import NablaCore
import Testing
@testable import NablaTUI

/// The block map draws apart what the cut does not treat like the others (issue 18):
/// partial edge blocks, marked on the ruler and gutter with a legend note, and joint text
/// tokens, a band of their own between the map and the legend.
@Suite("block map: edge marks and text band")
struct MapBandsTests {
    @Test("partial edge key and query blocks are marked on the ruler and the gutter, and the legend says so")
    func edgeMarks() throws {
        // 2x12x12 with 1x8x8: block grid 2x2x2, blocks (i, j) with i = 1 or j = 1 partial.
        let odd = TestApp.input(grid: TokenGrid(t: 2, h: 12, w: 12), heads: 2)
        var app = TestApp.make(block: .nabla, input: odd)
        // The load's edge note, shown in full above the status line, goes with a key.
        try app.keys("<Esc>")
        let blocks = try #require(app.state.cut.map?.blocks)
        let view = try #require(app.state.viewport)
        #expect(view.blocksPerPixel == 1)
        let layout = ScreenLayout(state: app.state, size: app.screen.size)
        let cx = layout.cellsPerPixel
        // Every ruler pixel over a partial key block carries the mark (or a frame tick or
        // the cursor), none over a whole block does.
        for p in 0..<view.drawnWidth {
            let b = view.blocks(pixel: p, from: view.origin.key).lowerBound
            let c = app.screen[layout.ruler.x + p * cx, layout.ruler.y].character
            let partial = blocks.tokens(inBlock: b) < 64
            if partial { #expect(c != "─", "key block \(b) at pixel \(p)") } else { #expect(c != "┄", "key block \(b)") }
        }
        let ruler = app.screen.lines[layout.ruler.y]
        #expect(ruler.contains("┄"), "\(ruler)")
        let gutter = (0..<layout.gutter.height).map { app.screen[layout.gutter.x + 3, layout.gutter.y + $0].character }
        #expect(gutter.contains("┆"))
        #expect(app.screen.lines.contains { $0.contains("┄┆ partial edge blocks") }, "\(app.screen.lines.joined(separator: "\n"))")

        let square = TestApp.make(block: .nabla, input: TestApp.input(grid: TokenGrid(t: 2, h: 16, w: 16), heads: 2))
        #expect(!square.screen.lines.contains { $0.contains("partial edge") || $0.contains("┄") })
    }

    @Test("joint text tokens: a band of their own under the map, and the status line says them")
    func textBand() throws {
        var input = TestApp.input(grid: TokenGrid(t: 2, h: 16, w: 16), heads: 2)
        let text = TextTokens(count: 70, place: .start)
        input.text = TextQK(tokens: text, q: HeadTokens([Float](repeating: 0.5, count: 2 * 70 * 8), heads: 2, tokens: 70, headDim: 8),
                            k: HeadTokens([Float](repeating: 0.25, count: 2 * 70 * 8), heads: 2, tokens: 70, headDim: 8))
        var app = TestApp.make(block: .nabla, input: input)
        // The attention panel's refusal of text (a message) goes with a key.
        try app.keys("<Esc>")
        let layout = ScreenLayout(state: app.state, size: app.screen.size)
        #expect(layout.textBand.height == 1)
        let band = try #require(app.screen.lines.first { $0.contains("text 70@start · 2 block(s) first · never cut") },
                                "\(app.screen.lines.joined(separator: "\n"))")
        // The band sits between the map and the legend.
        let row = try #require(app.screen.lines.firstIndex(of: band))
        #expect(app.screen.lines[row + 1].contains("kept: log10 P"), "\(app.screen.lines.joined(separator: "\n"))")
        #expect(app.screen.lines.last?.contains("2x16x16 + text 70@start") == true, "\(app.screen.lines.last ?? "")")
        // The video map itself is the video tokens' own.
        let plain = TestApp.make(block: .nabla, input: TestApp.input(grid: TokenGrid(t: 2, h: 16, w: 16), heads: 2))
        #expect(app.state.cut.mask?.kept == plain.state.cut.mask?.kept)
        #expect(ScreenLayout(state: plain.state, size: plain.screen.size).textBand.height == 0)
    }
}
