import Foundation
import NablaCore
import Testing
@testable import NablaTUI

/// Issue 19, item 2: the app's first map from the one-pass pooling (`InputSpec.loadPooled`)
/// with the token-level Q, K and V loaded behind it (`LazyInput`), against the whole-input
/// path the app took before, on small bfloat16 files written here.
@Suite("The first map before the token-level data")
struct LazyMapTests {
    static let grid = TokenGrid(t: 3, h: 8, w: 12)
    static let heads = 3, d = 16

    /// A safetensors file with q, k, v of `dtype`, `[1, S, heads, D]` (heads interleaved
    /// with the tokens, as Wan's), grid in `__metadata__`; values smooth in position plus
    /// a per-index wobble, distinct per tensor.
    static func file(_ dtype: DType = .bfloat16) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lazymap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let s = grid.tokens
        func values(_ seed: Double) -> [Float] {
            (0..<(s * heads * d)).map { i in
                let token = i / (heads * d), j = i % d, h = (i / d) % heads
                let (t, y, x) = (token / (grid.h * grid.w), token / grid.w % grid.h, token % grid.w)
                let pos = Double(j % 3 == 0 ? t : j % 3 == 1 ? y : x)
                return Float(2 * sin(pos * (0.3 + 0.1 * Double(j / 3)) + seed + Double(h)) + 0.2 * cos(Double(i) * 0.37 * seed))
            }
        }
        let shape = [1, s, heads, d]
        let path = dir + "/layer.safetensors"
        try SafetensorsFile.write([("q", dtype, shape, values(1)), ("k", dtype, shape, values(2)), ("v", dtype, shape, values(3))],
                                  metadata: ["grid": "\(grid.t)x\(grid.h)x\(grid.w)", "order": "raster"], to: path)
        return path
    }

    /// Counts the loads of each kind (the loaders run on the test's thread).
    final class Counts: @unchecked Sendable {
        var whole = 0, pooled = 0
    }

    /// The executable's loaders in short (`ViewSettings.loader()`, `pooledLoader()`).
    static func loaders(_ counts: Counts = Counts()) -> (InputLoader, PooledLoader) {
        let whole: InputLoader = { request, block, observer in
            counts.whole += 1
            var spec = request
            spec.layout.orderBlock = block
            return try spec.load(halfInPlace: true, halfValues: true, progress: observer.progress, isCancelled: observer.isCancelled)
        }
        let pooled: PooledLoader = { request, block, observer in
            counts.pooled += 1
            var spec = request
            spec.layout.orderBlock = block
            return try spec.loadPooled(block: block, progress: observer.progress, isCancelled: observer.isCancelled)
        }
        return (whole, pooled)
    }

    static func config(_ path: String) -> AppConfig {
        AppConfig(input: InputSpec(source: .file(path)), inputName: "layer", block: BlockShape(bt: 1, bh: 4, bw: 4),
                  threshold: 0.8, theme: Theme(mode: .palette256, glyphs: .unicodeSet))
    }

    /// Runs `effects` and those they start, as the headless app does, except the
    /// token-level load, which is held back and returned (with `hold`).
    @discardableResult
    static func run(_ state: inout AppState, _ effects: [Effect], loader: InputLoader, pooled: PooledLoader?,
                    hold: Bool = true) -> Effect? {
        var queue = effects, held: Effect?
        while !queue.isEmpty {
            let effect = queue.removeFirst()
            guard let generation = effect.generation else { continue }
            if case .loadTokens = effect, hold {
                held = effect
                continue
            }
            if effect.lane != .map && generation != state.newestGeneration(effect.lane) { continue }
            let outcome = Jobs.perform(effect, loader: loader, pooledLoader: pooled)
            queue += reduce(&state, .jobFinished(lane: effect.lane, generation: generation, outcome: outcome))
        }
        return held
    }

    /// The status line, on a screen wide enough for every field.
    /// The heads a token-level load reads (`nil`: every head).
    func tokensHeads(_ effect: Effect) -> [Int]? {
        guard case .loadTokens(let request, _, _) = effect else { return [-1] }
        return request.heads?.indices
    }

    static func status(_ state: AppState) -> String {
        render(state, size: Size(width: 220, height: 40)).lines.last ?? ""
    }

    @Test("the map comes from the pooled pass with no token-level data; the status line says it loads; Esc keeps the map; t loads it")
    func mapFirst() throws {
        let path = try Self.file()
        let counts = Counts()
        let (whole, pooled) = Self.loaders(counts)
        var state = AppState(config: Self.config(path))
        let first = start(&state, size: Size(width: 120, height: 40))
        let tokens = try #require(Self.run(&state, first, loader: whole, pooled: pooled), "the token-level load is asked for")
        #expect(counts.pooled == 1 && counts.whole == 0, "the map needed no whole read")
        #expect(state.map != nil && state.mask != nil)
        #expect(state.input == nil)
        #expect(state.lazyInput?.headIndices == [0, 1, 2])
        #expect(state.attention == nil, "attention waits for the token-level data")
        #expect(state.job?.label == "map ready; loading head 0's token-level data")
        #expect(Self.status(state).contains("map ready; loading head 0's token-level data"), "\(Self.status(state))")
        #expect(tokensHeads(tokens) == [0], "only the head on screen is read")
        #expect(Self.status(state).contains("3x8x12"), "the grid is named: \(Self.status(state))")

        // Esc during the background load: the map stays, nothing is loaded, the status says so.
        let mapID = state.map?.id
        let afterEsc = reduce(&state, .key(.escape))
        #expect(!afterEsc.contains { if case .loadTokens = $0 { true } else { false } }, "Esc does not restart the load")
        #expect(state.job == nil && state.map?.id == mapID && state.input == nil)
        #expect(Self.status(state).contains("token-level data not loaded yet"), "\(Self.status(state))")
        // The stale load, had it finished, is dropped.
        if let g = tokens.generation {
            _ = reduce(&state, .jobFinished(lane: .map, generation: g, outcome: Jobs.perform(tokens, loader: whole)))
        }
        #expect(state.input == nil)
        // Threshold keys work from the map alone.
        _ = Self.run(&state, reduce(&state, .key(.character("."))), loader: whole, pooled: pooled)
        #expect(state.threshold == 0.81 && state.mask?.settings.threshold == 0.81)

        // t (the true block mass) needs tokens: the head's load starts again; the panel runs on it.
        let again = try #require(Self.run(&state, reduce(&state, .key(.character("t"))), loader: whole, pooled: pooled))
        #expect(tokensHeads(again) == [0])
        Self.run(&state, [again], loader: whole, pooled: pooled, hold: false)
        #expect(counts.whole == 2, "the stale load run above, and this one")
        #expect(state.input == nil && state.lazyInput?.heads[0]?.v != nil)
        #expect(state.attention?.mass?.heads == [0] && state.attention?.head == 0, "the attention panel ran on head 0's data")

        // The next head: its own load; a teaching view then needs every head: the input is whole.
        let next = try #require(Self.run(&state, reduce(&state, .key(.character("]"))), loader: whole, pooled: pooled))
        #expect(tokensHeads(next) == [1] && state.job?.label == "map ready; loading head 1's token-level data")
        let all = try #require(Self.run(&state, reduce(&state, .key(.character("w"))), loader: whole, pooled: pooled),
                               "the sweep view supersedes the one-head load")
        #expect(tokensHeads(all) == nil)
        Self.run(&state, [all], loader: whole, pooled: pooled, hold: false)
        let input = try #require(state.input)
        #expect(input.headIndices == [0, 1, 2] && input.v != nil && state.lazyInput == nil)
        #expect(state.attention?.mass?.heads == [1], "head 1's panel from the whole input")
    }

    @Test("map, mask and the attention panel equal the whole-input path's, bit for bit; a block change pools the file again")
    func sameAsWholePath() throws {
        let path = try Self.file()
        let counts = Counts()
        let (whole, pooled) = Self.loaders(counts)
        let size = Size(width: 120, height: 40)
        let old = HeadlessApp(config: Self.config(path), size: size, loader: whole)
        let new = HeadlessApp(config: Self.config(path), size: size, loader: whole, pooledLoader: pooled)
        #expect(counts.pooled == 1 && counts.whole == 2)
        let (a, b) = (old.state, new.state)
        #expect(b.input == nil && b.lazyInput?.heads[0] != nil, "headless, head 0's token-level load ran after the map")
        let (mapA, mapB) = (try #require(a.map), try #require(b.map))
        #expect(mapA.blocks == mapB.blocks && mapA.probs == mapB.probs)
        let (maskA, maskB) = (try #require(a.currentMask), try #require(b.currentMask))
        #expect(maskA.kept == maskB.kept && maskA.statistics.density == maskB.statistics.density)
        let (panelA, panelB) = (try #require(a.attention), try #require(b.attention))
        #expect(panelA.head == panelB.head && panelA.pending.isEmpty && panelB.pending.isEmpty)
        #expect(panelA.mass?.mass == panelB.mass?.mass && panelA.mass != nil)
        #expect(panelA.recall?.perQueryBlock == panelB.recall?.perQueryBlock)
        #expect(panelA.sparse == panelB.sparse && panelA.dense == panelB.dense && panelA.error == panelB.error && panelA.error != nil)
        // Head 2 (its rows of the whole mask, its mass under its own index), at another threshold.
        var (oldApp, newApp) = (old, new)
        try oldApp.keys("]]}")
        try newApp.keys("]]}")
        #expect(newApp.state.input == nil && newApp.state.lazyInput?.heads[2] != nil)
        let (p2A, p2B) = (try #require(oldApp.state.attention), try #require(newApp.state.attention))
        #expect(p2A.head == 2 && p2B.head == 2 && p2B.mass?.heads == [2] && p2A.mass?.heads == [2])
        #expect(p2A.mass?.mass == p2B.mass?.mass && p2A.recall?.perQueryBlock == p2B.recall?.perQueryBlock)
        #expect(p2A.recall?.perQueryBlock != panelA.recall?.perQueryBlock, "another head's figures")
        #expect(p2A.sparse == p2B.sparse && p2A.dense == p2B.dense && p2A.error == p2B.error && p2B.error != nil)
        #expect(p2A.settings.threshold == 0.9 && p2B.settings == p2A.settings)

        // A block change before the token-level data is in: the file is pooled again at
        // the new shape, the same map as the whole input's at that shape.
        var state = AppState(config: Self.config(path))
        _ = Self.run(&state, start(&state, size: size), loader: whole, pooled: pooled)
        #expect(state.input == nil)
        let change = reduce(&state, .key(.character("b")))
        #expect(change.contains { if case .poolMap = $0 { true } else { false } })
        _ = Self.run(&state, change, loader: whole, pooled: pooled)
        let shape = try #require(state.map?.blocks.block)
        #expect(shape != BlockShape(bt: 1, bh: 4, bw: 4) && state.input == nil)
        let reference = try #require(try PooledMap.compute(try whole(InputSpec(source: .file(path)), shape, .none), block: shape))
        #expect(state.map?.probs == reference.probs)
    }

    @Test(":save while only the map is loaded writes the files a whole input's :save writes")
    func saveFromMap() throws {
        let path = try Self.file()
        let (whole, pooled) = Self.loaders()
        let size = Size(width: 120, height: 40)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var old = HeadlessApp(config: Self.config(path), size: size, loader: whole)
        try old.keys(":save \(dir)/old<Enter>")
        var state = AppState(config: Self.config(path))
        Self.run(&state, start(&state, size: size), loader: whole, pooled: pooled)
        #expect(state.input == nil && state.job != nil, "the head's token-level load is running")
        let save = reduce(&state, .key(.character(":"))) + "save \(dir)/new".map { reduce(&state, .key(.character($0))) }.flatMap { $0 }
            + reduce(&state, .key(.enter))
        #expect(save.contains { if case .saveMapMask = $0 { true } else { false } })
        Self.run(&state, save, loader: whole, pooled: pooled)
        #expect(state.message?.text.hasPrefix("wrote mask.npy") == true, "\(String(describing: state.message))")
        #expect(state.input == nil)
        for name in ["mask.npy", "kv_num_blocks.npy", "kv_indices.npy", "frame_coverage.npy"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/old/\(name)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/new/\(name)"))
            #expect(a == b && !a.isEmpty, "\(name)")
        }
        let summary = try String(contentsOfFile: "\(dir)/new/summary.json", encoding: .utf8)
        #expect(summary.contains("\"head_dim\": 16") || summary.contains("\"head_dim\":16"), "\(summary.prefix(300))")
    }

    @Test("an input the pass cannot read (float64) takes the whole-input path, as before")
    func fallback() throws {
        let path = try Self.file(.float64)
        let counts = Counts()
        let (whole, pooled) = Self.loaders(counts)
        var state = AppState(config: Self.config(path))
        let held = Self.run(&state, start(&state, size: Size(width: 120, height: 40)), loader: whole, pooled: pooled)
        #expect(held == nil, "no token-level load: the input is whole")
        #expect(counts.pooled == 1 && counts.whole == 1)
        #expect(state.input != nil && state.lazyInput == nil && state.map != nil)
        #expect(state.attention?.mass != nil)
    }
}
