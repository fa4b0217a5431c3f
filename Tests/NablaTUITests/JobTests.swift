import Synchronization
import Testing
import NablaCore
@testable import NablaTUI

@Suite("Jobs and generations")
struct JobTests {
    @Test("a threshold change re-cuts the cached map without a compute effect")
    func recut() {
        var app = TestApp.make()
        let map = app.state.map
        let generation = app.state.generation
        let before = app.state.mask?.statistics.overallDensity ?? 0
        var last: [Effect] = []
        for key: Key in [.character("<"), .character("{"), .pageDown, .character(",")] {
            last = reduce(&app.state, .key(key))
            // Only the other heads' re-cut (and attention) go to the background.
            #expect(last.allSatisfy { $0.lane != .map })
        }
        #expect(abs(app.state.threshold - 0.68) < 1e-9)
        #expect(app.state.map === map)
        #expect(app.state.generation == generation)
        app.run(last)
        #expect(app.state.pendingCut == nil)
        #expect(app.state.mask?.settings.threshold == app.state.threshold)
        #expect((app.state.mask?.statistics.overallDensity ?? 1) < before)
        #expect(app.state.cutTimes.stages.map(\.name) == ["cut", "sta", "stats"])
    }

    @Test("a block change emits a compute effect with a new generation, and shows progress")
    func blockChange() throws {
        var state = TestApp.make().state
        let generation = state.generation
        let effects = reduce(&state, .key(.character("b")))
        try #require(effects.count == 1, "expected one compute effect, got \(effects)")
        guard case .computeMap(_, let block, let g, _) = effects[0] else {
            Issue.record("expected a compute effect, got \(effects)")
            return
        }
        #expect(block == BlockShape(bt: 1, bh: 16, bw: 16))
        #expect(g == generation + 1)
        #expect(state.job?.label == "computing 1x16x16")
        #expect(state.block == .nabla)  // the old map stays until the new one arrives
        #expect(render(state, size: state.size).lines.last?.contains("computing 1x16x16") == true)
        let outcome = Jobs.perform(effects[0], loader: TestApp.loader())
        let cut = reduce(&state, .jobFinished(lane: .map, generation: g, outcome: outcome))
        #expect(state.block == block && state.job == nil)
        // The head on screen is cut at once, the others in the background.
        #expect(state.headMask(state.head)?.mask.blocks.block == block)
        for effect in cut where effect.lane == .cut {
            _ = reduce(&state, .finished(effect, Jobs.perform(effect, loader: TestApp.loader())))
        }
        #expect(state.mask?.blocks.block == block)
    }

    @Test("stale results are dropped; only the newest generation is applied")
    func stale() throws {
        var state = TestApp.make().state
        let first = reduce(&state, .key(.character("b")))   // 1x16x16
        let second = reduce(&state, .key(.character("b")))  // 2x8x8
        guard case .computeMap(_, _, let g1, _)? = first.first, case .computeMap(_, let b2, let g2, _)? = second.first else {
            Issue.record("expected compute effects")
            return
        }
        #expect(g2 == g1 + 1)
        // The first job's result arrives late: dropped, still waiting for the second.
        _ = reduce(&state, .jobFinished(lane: .map, generation: g1, outcome: Jobs.perform(first[0], loader: TestApp.loader())))
        #expect(state.block == .nabla && state.job?.generation == g2)
        _ = reduce(&state, .jobFinished(lane: .map, generation: g2, outcome: Jobs.perform(second[0], loader: TestApp.loader())))
        #expect(state.block == b2 && state.job == nil)
        // A result for a generation already applied changes nothing either.
        let map = state.map
        _ = reduce(&state, .jobFinished(lane: .map, generation: g2, outcome: .failed("late")))
        #expect(state.map === map && state.message == nil)
    }

    @Test("going back to the shape on screen cancels the pending job")
    func backToCurrent() throws {
        var state = TestApp.make().state
        let pending = reduce(&state, .key(.character("b")))
        let back = reduce(&state, .key(.character("B")))
        #expect(back.isEmpty && state.job == nil && state.block == .nabla)
        guard case .computeMap(_, _, let g, _)? = pending.first else {
            Issue.record("b gave no compute effect: \(pending)")
            return
        }
        let cancelled = Mutex(false)
        let outcome = Jobs.perform(pending[0], loader: TestApp.loader(), isCancelled: { cancelled.withLock { $0 = true }; return true })
        #expect(cancelled.withLock { $0 })
        if case .cancelled = outcome {} else { Issue.record("expected cancelled, got \(outcome)") }
        _ = reduce(&state, .jobFinished(lane: .map, generation: g, outcome: outcome))
        #expect(state.block == .nabla)
    }

    @Test("the cursor stays on the same place of the video across block shapes")
    func cursorRemap() throws {
        var app = TestApp.make()
        try app.keys("0JLjl")  // query block (t 1, i 1, j 0) ... of 1x8x8
        let old = try #require(app.state.map?.blocks)
        let before = old.coordinates(of: app.state.cursor.query)
        try app.keys(":block 1x4x4<Enter>")
        let new = try #require(app.state.map?.blocks)
        let after = new.coordinates(of: app.state.cursor.query)
        #expect(after.t == before.t && after.i / 2 == before.i && after.j / 2 == before.j)
    }

    @Test("loading a grid the block does not divide: partial edge blocks, said; :edge crop|pad recomputes")
    func loadNote() throws {
        let odd = TestApp.input(grid: TokenGrid(t: 2, h: 12, w: 12), heads: 2)
        var app = TestApp.make(block: BlockShape(bt: 1, bh: 8, bw: 8), input: odd)
        #expect(app.state.block == .nabla)
        #expect(app.state.map?.blocks.description == "2x2x2")
        #expect(app.state.message == .info("edge pad: block 1x8x8 does not divide grid 2x12x12; block grid 2x2x2 (ceiling), 6 partial edge blocks (last block row 4 of 8 rows, last block column 4 of 8 columns), every token kept"))
        try app.keys(":edge crop<Enter>")
        #expect(app.state.map?.blocks.description == "2x1x1" && app.state.map?.blocks.edge == .crop)
        try app.keys("<Esc>")
        #expect(app.screen.lines.last?.contains("1x8x8 crop") == true, "\(app.screen.lines.last ?? "")")
        try app.keys(":edge pad<Enter>")
        #expect(app.state.map?.blocks.description == "2x2x2")
        let square = TestApp.input(grid: TokenGrid(t: 2, h: 24, w: 24), heads: 2)
        var other = TestApp.make(block: .nabla, input: square)
        try other.keys(":edge crop<Enter>")
        #expect(other.state.message == .info("edge crop has no effect: block 1x8x8 divides grid 2x24x24"))
    }

    @Test("the spinner turns only while a job runs")
    func ticks() {
        var state = TestApp.make().state
        _ = reduce(&state, .tick)
        #expect(state.spinner == 0)
        _ = reduce(&state, .key(.character("b")))
        _ = reduce(&state, .tick)
        _ = reduce(&state, .tick)
        #expect(state.spinner == 2)
    }
}

@Suite("A failed open keeps what is loaded or being loaded")
struct FallbackLoadTests {
    /// The start-up load, not yet run, and an `:open` of a file that does not exist.
    func startThenOpen() throws -> (state: AppState, first: Effect, second: Effect) {
        var state = AppState(config: AppConfig(inputName: "test"))
        let first = try #require(start(&state, size: Size(width: 120, height: 40)).first)
        var second: Effect?
        for key in try Key.parseSequence(":open /nonexistent<Enter>") {
            second = reduce(&state, .key(key)).first ?? second
        }
        return (state, first, try #require(second))
    }

    @Test("the failed open ends first: the app waits for the start-up load and shows it")
    func openFailsFirst() throws {
        var (state, first, second) = try startThenOpen()
        let loader = TestApp.loader()
        _ = reduce(&state, .finished(second, Jobs.perform(second, loader: loader)))
        #expect(state.message == .error("/nonexistent: no such file"))
        #expect(state.job?.generation == first.generation, "still waiting for the start-up load")
        _ = reduce(&state, .finished(first, Jobs.perform(first, loader: loader)))
        #expect(state.map != nil && state.input?.name == "test" && state.job == nil)
        #expect(state.message == .error("/nonexistent: no such file"))
        #expect(render(state, size: state.size).lines.last?.contains("nothing loaded") != true)
    }

    @Test("the start-up load ends first: its result is kept and applied when the open fails")
    func loadEndsFirst() throws {
        var (state, first, second) = try startThenOpen()
        let loader = TestApp.loader()
        _ = reduce(&state, .finished(first, Jobs.perform(first, loader: loader)))
        #expect(state.map == nil, "the newer open is still wanted")
        _ = reduce(&state, .finished(second, Jobs.perform(second, loader: loader)))
        #expect(state.map != nil && state.input?.name == "test" && state.job == nil && state.fallbackLoad == nil)
        #expect(state.message == .error("/nonexistent: no such file"))
    }

    @Test("a good open replaces the load it superseded, and that load's late result is dropped")
    func goodOpen() throws {
        var state = AppState(config: AppConfig(inputName: "test"))
        let first = try #require(start(&state, size: Size(width: 120, height: 40)).first)
        var second: Effect?
        for key in try Key.parseSequence(":open preview<Enter>") { second = reduce(&state, .key(key)).first ?? second }
        let open = try #require(second)
        let loader = TestApp.loader()
        _ = reduce(&state, .finished(open, Jobs.perform(open, loader: loader)))
        #expect(state.input?.preview != nil && state.fallbackLoad == nil)
        _ = reduce(&state, .finished(first, Jobs.perform(first, loader: loader)))
        #expect(state.input?.preview != nil, "the superseded load did not overwrite the newer input")
    }
}

@Suite(":save in the app")
struct SaveTests {
    @Test(":save starts a save job of the current generation with what the screen shows; refused while a job runs or nothing is loaded")
    func saveJob() throws {
        var state = TestApp.make().state
        for key in try Key.parseSequence(":thr 0.5<Enter>") { _ = reduce(&state, .key(key)) }
        let generation = state.generation
        var effects: [Effect] = []
        for key in try Key.parseSequence(":save /tmp/somewhere<Enter>") { effects = reduce(&state, .key(key)) }
        guard case .saveMask(_, let map, let mask, let settings, let dir, let g)? = effects.first else {
            Issue.record("no save effect: \(effects)")
            return
        }
        #expect(map.blocks.block == .nabla && settings.threshold == 0.5 && dir == "/tmp/somewhere" && g == generation)
        // The save writes what the screen holds: the map on screen, and its mask when every
        // head is cut at the settings (else the job cuts the map, never pooling again).
        #expect(map === state.map)
        #expect(mask == nil || (mask!.settings == settings && mask!.blocks == map.blocks))
        #expect(state.job?.label == "saving to /tmp/somewhere")
        for key in try Key.parseSequence(":save /tmp/other<Enter>") { effects = reduce(&state, .key(key)) }
        #expect(effects.isEmpty && state.message == .error("wait for saving to /tmp/somewhere to finish, then :save again"))
        _ = reduce(&state, .jobFinished(lane: .map, generation: g, outcome: .saved(["mask.npy"], directory: "/tmp/somewhere")))
        #expect(state.job == nil && state.message == .info("wrote mask.npy to /tmp/somewhere"))

        var empty = AppState(config: AppConfig())
        for key in try Key.parseSequence(":save /tmp/x<Enter>") { effects = reduce(&empty, .key(key)) }
        #expect(effects.isEmpty && empty.message == .error("nothing is loaded to save"))
    }
}
