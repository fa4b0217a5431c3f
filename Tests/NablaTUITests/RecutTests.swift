import Synchronization
import Testing
import NablaCore
@testable import NablaTUI

/// The head on screen first: a threshold or STA change cuts the current head at once and
/// the other heads in a background job that newer changes supersede; block changes and
/// loads report their stage and stop on Esc, keeping what is on screen.
extension Effect {
    var isCutHeads: Bool {
        if case .cutHeads = self { return true }
        return false
    }
}

@Suite("Re-cut priority, progress and cancel")
struct RecutTests {
    /// Runs `effects` of `lane` through the engine and reduces their outcomes.
    static func finish(_ state: inout AppState, _ effects: [Effect], lane: JobLane) -> [Effect] {
        effects.filter { $0.lane == lane }.flatMap { effect in
            reduce(&state, .finished(effect, Jobs.perform(effect, loader: TestApp.loader())))
        }
    }

    @Test("a threshold or STA key cuts the head on screen at once; the mask of every head follows and equals the engine's cut of all heads",
          arguments: ["{", "s", ":thr 0.5<Enter>", "]]<"])
    func headFirst(keys: String) throws {
        var app = TestApp.make()
        var effects: [Effect] = []
        for key in try Key.parseSequence(keys) { effects = reduce(&app.state, .key(key)) }
        let state = app.state
        let map = try #require(state.map)
        let want = map.cut(state.settings)
        // At once: the head on screen, at the new settings; the others pending.
        let pending = try #require(state.pendingCut)
        #expect(pending.settings == state.settings && pending.done.keys.sorted() == [state.head])
        let shown = try #require(state.headMask(state.head))
        #expect(shown.isCurrent && shown.density == want.statistics.density[state.head])
        let n2 = map.n * map.n
        #expect(Array(shown.mask.kept) == Array(want.kept[(state.head * n2)..<((state.head + 1) * n2)]))
        #expect(render(state, size: state.size).lines.last?.contains("cutting the other heads 1/3") == true)
        for h in 0..<map.heads where h != state.head { #expect(state.headMask(h)?.isCurrent != true) }
        // Then every head, as one cut of all heads would give it.
        _ = Self.finish(&app.state, effects, lane: .cut)
        let mask = try #require(app.state.mask)
        #expect(app.state.pendingCut == nil)
        #expect(mask.kept == want.kept && mask.margin == want.margin && mask.statistics == want.statistics)
        #expect(mask.settings == app.state.settings)
    }

    @Test("a newer key supersedes the background re-cut: the older result is dropped, the newer applied")
    func newestWins() throws {
        var state = TestApp.make().state
        let first = reduce(&state, .key(.character("{"))).filter(\.isCutHeads)
        let second = reduce(&state, .key(.character("{"))).filter(\.isCutHeads)
        try #require(first.count == 1 && second.count == 1)
        #expect(second[0].generation! > first[0].generation!)
        let before = state.mask?.settings
        _ = Self.finish(&state, first, lane: .cut)
        #expect(state.mask?.settings == before && state.pendingCut != nil)  // stale: dropped
        _ = Self.finish(&state, second, lane: .cut)
        #expect(state.mask?.settings.threshold == 0.7 && state.pendingCut == nil)
        // Back to the settings of the mask on screen: nothing is pending any more.
        _ = reduce(&state, .key(.character("}")))
        #expect(state.pendingCut != nil)
        let back = reduce(&state, .key(.character("{")))
        #expect(state.pendingCut == nil && !back.contains(where: \.isCutHeads))
    }

    @Test("switching to a head whose re-cut is pending cuts that head at once")
    func headSwitch() throws {
        var app = TestApp.make()
        let cut = reduce(&app.state, .key(.character("<"))).filter(\.isCutHeads)
        #expect(app.state.headMask(1)?.isCurrent == false)
        let more = reduce(&app.state, .key(.character("]")))
        let restarted = more.contains(where: \.isCutHeads)
        #expect(!restarted)  // the same re-cut goes on
        #expect(app.state.head == 1 && app.state.headMask(1)?.isCurrent == true)
        #expect(app.state.pendingCut?.done.keys.sorted() == [0, 1])
        let want = try #require(app.state.map).cut(app.state.settings)
        #expect(app.state.headMask(1)?.density == want.statistics.density[1])
        _ = Self.finish(&app.state, cut, lane: .cut)
        #expect(app.state.mask?.kept == want.kept)
    }

    @Test("a block change reports pool and each head's map; the status line shows the stage and that Esc cancels")
    func progress() throws {
        var state = TestApp.make().state
        let effects = reduce(&state, .key(.character("b")))
        let g = try #require(effects.first?.generation)
        let seen = Mutex<[JobProgress]>([])
        let outcome = Jobs.perform(effects[0], loader: TestApp.loader(), progress: { p in seen.withLock { $0.append(p) } })
        #expect(seen.withLock { $0 } == [.pool, .map(head: 0, heads: 3), .map(head: 1, heads: 3), .map(head: 2, heads: 3),
                                         .cut(head: 0, heads: 3)])
        _ = reduce(&state, .jobProgress(lane: .map, generation: g, progress: .map(head: 1, heads: 3)))
        let status = try #require(render(state, size: state.size).lines.last)
        #expect(status.contains("computing 1x16x16: map head 1 of 3 (Esc cancels)"))
        // A report of an older generation, or another lane's, changes nothing.
        _ = reduce(&state, .jobProgress(lane: .map, generation: g - 1, progress: .pool))
        _ = reduce(&state, .jobProgress(lane: .cut, generation: g, progress: .pool))
        #expect(state.job?.progress == .map(head: 1, heads: 3))
        // The whole map equals the one computed at once.
        guard case .computed(let map, _) = outcome else {
            Issue.record("no map: \(outcome)")
            return
        }
        let input = try #require(state.input)
        let once = try #require(try PooledMap.compute(input, block: map.blocks.block))
        #expect(map.probs == once.probs)
        // The job cut the head on screen too: the new map's first frame uses that cut.
        guard case .computed(_, let cut?) = outcome else {
            Issue.record("no first cut")
            return
        }
        #expect(cut.kept == map.cut(state.settings, heads: 0..<1).kept)
        _ = reduce(&state, .jobFinished(lane: .map, generation: g, outcome: outcome))
        #expect(state.pendingCut?.done[0]?.times == cut.times && state.cutTimes == cut.times)
    }

    @Test("a map job stops between heads once cancelled")
    func cancelledBetweenHeads() throws {
        var state = TestApp.make().state
        let effects = reduce(&state, .key(.character("b")))
        let seen = Mutex<[JobProgress]>([])
        let outcome = Jobs.perform(effects[0], loader: TestApp.loader(),
                                   isCancelled: { seen.withLock { $0.contains(.map(head: 1, heads: 3)) } },
                                   progress: { p in seen.withLock { $0.append(p) } })
        if case .cancelled = outcome {} else { Issue.record("expected cancelled, got \(outcome)") }
        #expect(seen.withLock { $0 }.last == .map(head: 1, heads: 3))
    }

    @Test("Esc cancels a block change: the map, mask and block shape stay, and the late result is dropped")
    func escapeBlockChange() throws {
        var app = TestApp.make()
        try app.keys("{")  // a re-cut done, so the mask is the app's own
        let map = try #require(app.state.map), mask = try #require(app.state.mask)
        let block = app.state.block
        let pending = reduce(&app.state, .key(.character("b")))
        #expect(app.state.requestedBlock != block && app.state.job != nil)
        _ = reduce(&app.state, .key(.escape))
        #expect(app.state.job == nil && app.state.block == block && app.state.requestedBlock == block)
        #expect(app.state.map === map && app.state.mask?.kept == mask.kept)
        #expect(app.state.message == .info("cancelled computing 1x16x16; kept block \(block)"))
        #expect(app.screen.lines.last?.contains("cancelled computing 1x16x16") == true)
        // The job finishes anyway (or stops): its result is not applied.
        let late = Jobs.perform(pending[0], loader: TestApp.loader())
        _ = reduce(&app.state, .finished(pending[0], late))
        #expect(app.state.map === map && app.state.block == block)
        // Fully usable: a threshold key re-cuts the kept map.
        try app.keys("}")
        #expect(app.state.mask?.settings.threshold == 0.9 && app.state.mask?.blocks.block == block)
        // A second Esc is "back" again (nothing to cancel).
        _ = reduce(&app.state, .key(.escape))
        #expect(app.state.message == nil)
    }

    @Test("a second block change supersedes the first: only its map is applied")
    func secondBlockChange() throws {
        var state = TestApp.make().state
        let first = reduce(&state, .key(.character("b")))
        let second = reduce(&state, .key(.character("b")))
        let wanted = state.requestedBlock
        #expect(wanted != BlockShape(bt: 1, bh: 16, bw: 16) && wanted != .nabla)
        _ = reduce(&state, .finished(first[0], Jobs.perform(first[0], loader: TestApp.loader())))
        #expect(state.block == .nabla && state.job != nil)
        _ = reduce(&state, .finished(second[0], Jobs.perform(second[0], loader: TestApp.loader())))
        #expect(state.block == wanted && state.job == nil)
    }

    @Test("Esc cancels a load: the input on screen stays; the loader is asked to stop and its result dropped")
    func escapeLoad() throws {
        var state = TestApp.make().state
        let input = try #require(state.input), map = try #require(state.map)
        let effects = state.execute("open preview")
        #expect(state.job?.isLoad == true)
        let g = try #require(effects.first?.generation)
        _ = reduce(&state, .jobProgress(lane: .map, generation: g,
                                        progress: .reading(tensor: "q.npy", bytesDone: 1_200_000_000, bytesTotal: 2_000_000_000)))
        #expect(render(state, size: state.size).lines.last?.contains(" loading q.npy 1.2 of 2.0 GB (Esc cancels)") == true)
        _ = reduce(&state, .key(.escape))
        #expect(state.job == nil && state.input?.name == input.name && state.map === map)
        // The loader sees the cancel through its observer; the job reports cancelled.
        let asked = Mutex(false)
        let loader: InputLoader = { _, _, observer in
            observer.progress("q.npy", 1, 2)
            asked.withLock { $0 = observer.isCancelled() }
            throw NablaError(.badArgument, "stopped")
        }
        let outcome = Jobs.perform(effects[0], loader: loader, isCancelled: { true })
        #expect(asked.withLock { $0 })
        if case .cancelled = outcome {} else { Issue.record("expected cancelled, got \(outcome)") }
        _ = reduce(&state, .jobFinished(lane: .map, generation: g, outcome: outcome))
        #expect(state.map === map && state.message?.text.hasPrefix("cancelled loading preview") == true)
    }

    @Test("after a change the current head's cuts one key away are made in the background, and the key uses them")
    func prefetch() throws {
        var app = TestApp.make()
        try app.keys("]{")
        let map = try #require(app.state.map)
        let p = try #require(app.state.prefetched)
        #expect(p.head == 1)
        let around = [MaskSettings(threshold: 0.79), MaskSettings(threshold: 0.81), MaskSettings(threshold: 0.7),
                      MaskSettings(threshold: 0.9), MaskSettings(threshold: 0.8, sta: .kandinsky)]
        #expect(Set(p.cuts.keys) == Set(around))
        for s in around {
            let fresh = map.cut(s, heads: 1..<2)
            #expect(p.cuts[s]?.kept == fresh.kept && p.cuts[s]?.statistics == fresh.statistics, "\(s)")
        }
        // The key finds its cut made: the head on screen shows it (its stage times too).
        let ready = try #require(p.cuts[MaskSettings(threshold: 0.81)])
        _ = reduce(&app.state, .key(.character(".")))
        #expect(app.state.pendingCut?.done[1]?.times == ready.times)
        #expect(app.state.headMask(1)?.mask.kept == ready.kept && app.state.cutTimes == ready.times)
        // A new map starts over.
        try app.keys("b")
        #expect(app.state.prefetched?.cuts.values.allSatisfy { $0.blocks == app.state.map?.blocks } == true)
    }

    @Test("reading progress in MB and GB")
    func readingText() {
        #expect(JobProgress.reading(tensor: "q.npy", bytesDone: 1_234_000_000, bytesTotal: 2_000_000_000).text == "loading q.npy 1.2 of 2.0 GB")
        #expect(JobProgress.reading(tensor: "k.npy", bytesDone: 12_400_000, bytesTotal: 80_000_000).text == "loading k.npy 12 of 80 MB")
        #expect(JobProgress.map(head: 3, heads: 8).text == "map head 3 of 8")
    }

    @Test("progress and the pending re-cut, rendered", arguments: [Size(width: 120, height: 40), Size(width: 80, height: 24)])
    func snapshots(size: Size) throws {
        var app = TestApp.make(size: size)
        let effects = reduce(&app.state, .key(.character("b")))
        _ = reduce(&app.state, .jobProgress(lane: .map, generation: effects[0].generation!, progress: .map(head: 2, heads: 3)))
        expectSnapshot(app.screen, "progress-\(size.width)x\(size.height)")
        _ = reduce(&app.state, .key(.escape))
        _ = reduce(&app.state, .key(.character("{")))
        app.state.message = nil
        expectSnapshot(app.screen, "recut-pending-\(size.width)x\(size.height)")
    }
}
