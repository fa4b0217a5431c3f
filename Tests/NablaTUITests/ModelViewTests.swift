import Foundation
import Testing
import NablaCore
@testable import NablaTUI

/// Pair navigation and the model view on a whole-model dump written to a temporary
/// safetensors file: three "layers", each the test input with Q scaled up (sharper
/// attention, so sparser masks) layer by layer.
@Suite("Whole-model dumps in the app")
struct ModelViewTests {
    static let prefixes = ["blocks.0", "blocks.1", "blocks.2"]

    /// Writes the dump and returns its path; `dir` keeps it alive.
    static func writeDump(in dir: URL, grid: TokenGrid = TestApp.grid) throws -> String {
        let base = TestApp.input(grid: grid)
        var tensors: [(key: String, dtype: DType, shape: [Int], values: [Float])] = []
        let shape = [base.heads, base.grid.t, base.grid.h, base.grid.w, base.headDim]
        for (i, prefix) in prefixes.enumerated() {
            let q = flat(base.q).map { $0 * Float(1 + 2 * i) }
            tensors.append((prefix + ".q", .float32, shape, q))
            tensors.append((prefix + ".k", .float32, shape, flat(base.k)))
        }
        let path = dir.appendingPathComponent("dump.safetensors").path
        try SafetensorsFile.write(tensors, metadata: [:], to: path)
        return path
    }

    /// The values of `t` as `[heads, tokens, headDim]`.
    static func flat(_ t: HeadTokens) -> [Float] {
        (0..<t.heads).flatMap { h in
            (0..<t.tokens).flatMap { s in Array(UnsafeBufferPointer(start: t.row(h, s), count: t.headDim)) }
        }
    }

    /// The loader the executable uses, reduced to what the dump needs.
    static let loader: InputLoader = { request, _, _ in try request.load() }

    static func makeApp(size: Size = Size(width: 100, height: 30), mode: ColorMode = .mono,
                        grid: TokenGrid = TestApp.grid, block: BlockShape = .nabla) throws -> (HeadlessApp, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = try writeDump(in: dir, grid: grid)
        var config = AppConfig(input: InputSpec(source: .file(path)), inputName: "dump", threshold: 0.9,
                               theme: Theme(mode: mode, glyphs: .unicodeSet))
        config.block = block
        var app = HeadlessApp(config: config, size: size, loader: loader)
        app.state.pinnedTimes = TestApp.times
        // The kernels line names the machine's variant unless pinned (snapshots).
        app.state.pinnedKernels = (name: "avx2", peakFlops: TestApp.pinnedPeak)
        return (app, dir)
    }

    @Test func nextAndPreviousPair() throws {
        var (app, dir) = try Self.makeApp()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(app.state.pairs?.prefixes == Self.prefixes)
        #expect(app.state.pairs?.index == 0)
        #expect(app.state.inputName == "dump.safetensors:blocks.0")
        try app.keys("]jjjl")
        let (zoom, cursor) = (app.state.zoom, app.state.cursor)
        #expect(cursor != BlockPair(query: 8, key: 8), "moved away from the centre a load puts it at")
        try app.keys("n")
        #expect(app.state.pairs?.index == 1)
        #expect(app.state.inputName == "dump.safetensors:blocks.1")
        // The head, zoom and cursor stay where they were: the grid is the same.
        #expect(app.state.head == 1 && app.state.zoom == zoom && app.state.cursor == cursor)
        try app.keys("pp")
        #expect(app.state.pairs?.index == 2, "p wraps around")
        #expect(app.screen.text.contains("dump.safetensors:blocks.2"))
    }

    @Test func modelViewShowsEveryPairAndHeadAndOpensTheSelectedOne() throws {
        var (app, dir) = try Self.makeApp()
        defer { try? FileManager.default.removeItem(at: dir) }
        try app.keys("m")
        let density = try #require(app.state.model?.density)
        // Each pair's densities as the engine gives them for that pair loaded on its own.
        for (i, prefix) in Self.prefixes.enumerated() {
            let pair = InputSpec(source: .latent(TensorSource(path: dir.appendingPathComponent("dump.safetensors").path, key: prefix)))
            let input = try Self.loader(pair, .nabla, .none)
            let map = try #require(try PooledMap.compute(input, block: .nabla))
            let expected = map.cut(MaskSettings(threshold: 0.9, sta: nil))
            #expect(density[i] == expected.statistics.density, "\(prefix)")
        }
        #expect(density[2].reduce(0, +) < density[0].reduce(0, +), "sharper layers are sparser")
        expectSnapshot(app.screen, "model-mono-100x30")
        var colour = try Self.makeApp(mode: .palette256)
        defer { try? FileManager.default.removeItem(at: colour.1) }
        try colour.0.keys("mjj]")
        // Cells coloured by density on the kept ramp, the selected one in reverse video.
        expectSnapshot(colour.0.screen, "model-256-100x30", roles: true)
        let cells = colour.0.screen.cells
        #expect(cells.contains { $0.attributes.contains(.reverse) && $0.background != .normal })
        // Down to blocks.1, right to head 2, open it.
        try app.keys("j]]<Enter>")
        #expect(app.state.model == nil)
        #expect(app.state.pairs?.index == 1 && app.state.head == 2)
        // A threshold change in the model view recomputes it.
        try app.keys("m{")
        #expect(app.state.model?.settings?.threshold == 0.8)
        #expect(app.state.model?.pair == 1)
        try app.keys("<Esc>")
        #expect(app.state.model == nil)
    }

    @Test func aClickOnACellOpensIt() throws {
        var (app, dir) = try Self.makeApp()
        defer { try? FileManager.default.removeItem(at: dir) }
        try app.keys("m")
        let area = ScreenLayout(state: app.state, size: app.state.size).overviewArea
        let geometry = ModelGeometry(area: area, prefixes: Self.prefixes, heads: 3, selected: 0)
        let y = try #require(geometry.y(ofPair: 2))
        app.send(.mouse(MouseEvent(.press, x: geometry.x(ofHead: 1) + 1, y: y)))
        #expect(app.state.pairs?.index == 2 && app.state.head == 1 && app.state.model == nil)
    }

    @Test func inputsThatAreNotDumpsSaySo() throws {
        var app = TestApp.make()
        try app.keys("m")
        #expect(app.state.model == nil)
        #expect(app.screen.text.contains("needs a whole-model dump"))
        try app.keys("n")
        // The whole sentence is on screen (it was cut at the status line's width).
        #expect(app.screen.text.contains("one Q/K pair: n and p move between the pairs of a whole-model dump"))
    }

    @Test func detectFindsThePairsAndTheOneNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nabla-detect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.writeDump(in: dir)
        var withGrid = InputSpec(source: .file(path))
        withGrid.layout.grid = TokenGrid(t: 4, h: 16, w: 16)
        #expect(DumpPairs.detect(withGrid) == DumpPairs(path: path, prefixes: Self.prefixes, index: 0, base: withGrid))
        // Each pair opens with the request's options.
        #expect(DumpPairs.detect(withGrid)?.request(for: 2).layout.grid == withGrid.layout.grid)
        #expect(DumpPairs.detect(withGrid)?.request(for: 2).source == .latent(TensorSource(path: path, key: "blocks.2")))
        func named(_ key: String) -> InputSpec { InputSpec(source: .latent(TensorSource(path: path, key: key))) }
        #expect(DumpPairs.detect(named("blocks.2"))?.index == 2)
        #expect(DumpPairs.detect(named("blocks.9")) == nil)
        #expect(DumpPairs.detect(named("blocks.1.q")) == nil, "a tensor, not a pair")
        #expect(DumpPairs.detect(InputSpec(source: .latent(TensorSource(path: path)))) == nil, "--latent FILE is a latent")
        #expect(DumpPairs.detect(InputSpec(source: .sample)) == nil)
    }
}
