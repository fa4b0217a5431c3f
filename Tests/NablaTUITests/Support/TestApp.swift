import Foundation
import NablaCore
@testable import NablaTUI

/// Small deterministic inputs and apps for the pure-core tests.
enum TestApp {
    static let grid = TokenGrid(t: 4, h: 16, w: 16)

    /// Q and K as smooth functions of position (no noise), 3 heads of dimension 8, on a
    /// 4x16x16 grid; optionally with a preview picture and with V.
    static func input(grid: TokenGrid = grid, heads: Int = 3, headDim d: Int = 8, preview: Bool = false,
                      values: Bool = false) -> QKInput {
        let s = grid.tokens
        var q = [Float](repeating: 0, count: heads * s * d)
        var k = q
        for h in 0..<heads {
            for t in 0..<grid.t { for y in 0..<grid.h { for x in 0..<grid.w {
                let tok = (t * grid.h + y) * grid.w + x
                for j in 0..<d {
                    let pos: Float = j % 3 == 0 ? Float(t) : (j % 3 == 1 ? Float(y) / 4 : Float(x) / 4)
                    let f = Float(j / 3 + 1) * 0.5 + Float(h) * 0.25
                    let amp = Float(2 + h)
                    q[(h * s + tok) * d + j] = amp * sin(pos * f + Float(j))
                    k[(h * s + tok) * d + j] = amp * sin(pos * f + Float(j) + 0.1 * Float(h))
                }
            } } }
        }
        var luminance: [Float] = []
        if preview {
            for t in 0..<grid.t { for y in 0..<grid.h { for x in 0..<grid.w {
                luminance.append(0.5 + 0.5 * sin(Float(x) * 0.4 + Float(t)) * cos(Float(y) * 0.3))
            } } }
        }
        let v = (0..<(heads * s * d)).map { i in Float(sin(Double(i % 977) * 0.37) + 0.1 * Double(i % d)) }
        return QKInput(name: "test", q: HeadTokens(q, heads: heads, tokens: s, headDim: d),
                       k: HeadTokens(k, heads: heads, tokens: s, headDim: d),
                       v: values ? HeadTokens(v, heads: heads, tokens: s, headDim: d) : nil, grid: grid, order: .raster,
                       preview: preview ? VideoPreview(grid: grid, luminance: luminance) : nil)
    }

    /// The FP32 peak the timing panel's share of peak is pinned to (FLOP/s).
    static let pinnedPeak = 1e11

    static let times = StageTimes([("pool", 1.5), ("map", 2.25), ("sort", 0.75), ("cut", 0.125), ("sta", 0.0), ("stats", 0.0625)])

    /// A loader that opens the test input for the sample and the file `preview`, and fails
    /// otherwise.
    static func loader(_ input: QKInput = input()) -> InputLoader {
        let withPreview = TestApp.input(preview: true)
        return { request, _, _ in
            switch request.source {
            case .sample: return input
            case .file("preview"): return withPreview
            case .file(let path): throw NablaError(.fileUnreadable, "\(path): no such file")
            default: throw NablaError(.fileUnreadable, "\(request.displayName): no such file")
            }
        }
    }

    /// `:open`'s words as the tests type them: paths, and `--grid TxHxW` (the executable's
    /// parser is tested in nablaTests).
    static let parser: InputParser = { words in
        var words = words
        var grid: TokenGrid?
        if let i = words.firstIndex(of: "--grid"), i + 1 < words.count {
            grid = try TokenGrid(parsing: words[i + 1], what: "--grid")
            words.removeSubrange(i...(i + 1))
        }
        var spec = try AppConfig.positionalInputs(words)
        spec.layout.grid = grid
        return spec
    }

    /// The start-up request of `arguments` (`[]`: the sample).
    static func request(_ arguments: [String]) -> InputSpec {
        (try? parser(arguments)) ?? InputSpec(source: .sample)
    }

    /// A started app with its first load done and fixed stage times.
    static func make(size: Size = Size(width: 120, height: 40), mode: ColorMode = .palette256, unicode: Bool = true,
                     block: BlockShape = .nabla, arguments: [String] = [], input: QKInput = input()) -> HeadlessApp {
        let config = AppConfig(input: request(arguments), openParser: parser, inputName: "test", block: block, threshold: 0.9,
                               theme: Theme(mode: mode, glyphs: unicode ? .unicodeSet : .asciiSet))
        var app = HeadlessApp(config: config, size: size, loader: loader(input))
        app.state.pinnedTimes = times
        app.state.pinnedKernels = (name: "avx2", peakFlops: pinnedPeak)
        return app
    }
}

extension HeadlessApp {
    mutating func keys(_ text: String) throws {
        press(try Key.parseSequence(text))
    }
}
