import CNcursesw
import Foundation
import NablaCore
import Synchronization
import Testing
@testable import NablaTerminal
@testable import NablaTUI

@Suite("ncurses key and mouse decoding")
struct DecodingTests {
    @Test("function keys: ncurses codes (curses.h values) to keys")
    func special() {
        // The octal values curses.h defines, written out: KEY_DOWN 0402, KEY_UP 0403, ...
        let table: [(Int32, Key)] = [(0o402, .down), (0o403, .up), (0o404, .left), (0o405, .right), (0o406, .home),
                                     (0o407, .backspace), (0o512, .delete), (0o522, .pageDown), (0o523, .pageUp),
                                     (0o527, .enter), (0o541, .tab), (0o550, .end)]
        for (code, key) in table { #expect(KeyCodes.special(code) == key, "code \(code)") }
        #expect(KeyCodes.special(0o410) == nil)  // KEY_F0: no use
        #expect(KeyCodes.special(0o632) == nil)  // KEY_RESIZE is an event, not a key
    }

    @Test("characters and control codes")
    func characters() {
        #expect(KeyCodes.character(27) == .escape)
        #expect(KeyCodes.character(13) == .enter && KeyCodes.character(10) == .enter)
        #expect(KeyCodes.character(9) == .tab)
        #expect(KeyCodes.character(127) == .backspace && KeyCodes.character(8) == .backspace)
        #expect(KeyCodes.character(3) == .control("c") && KeyCodes.character(1) == .control("a") && KeyCodes.character(26) == .control("z"))
        #expect(KeyCodes.character(UInt32(UInt8(ascii: "q"))) == .character("q"))
        #expect(KeyCodes.character(0xE9) == .character("é"))
        #expect(KeyCodes.character(0x1F600) == .character("😀"))
        #expect(KeyCodes.character(0) == nil && KeyCodes.character(28) == nil && KeyCodes.character(0xD800) == nil)
    }

    @Test("mouse: wheel up and down and button 1 presses at the cell; other buttons ignored")
    func mouse() {
        // ncurses mouse masks (NCURSES_MOUSE_VERSION 2): button n's events sit in 5-bit
        // groups from bit 5(n-1); "pressed" is the second bit of a group.
        let b1Pressed: mmask_t = 0o2, b3Pressed: mmask_t = 0o2 << 10, b4Pressed: mmask_t = 0o2 << 15, b5Pressed: mmask_t = 0o2 << 20
        #expect(MouseCodes.event(buttons: b4Pressed, x: 3, y: 4) == MouseEvent(.wheelUp, x: 3, y: 4))
        #expect(MouseCodes.event(buttons: b5Pressed, x: 0, y: 9) == MouseEvent(.wheelDown, x: 0, y: 9))
        #expect(MouseCodes.event(buttons: b1Pressed, x: 7, y: 1) == MouseEvent(.press, x: 7, y: 1))
        #expect(MouseCodes.event(buttons: b3Pressed, x: 7, y: 1) == nil)
        #expect(MouseCodes.event(buttons: 0o1, x: 7, y: 1) == nil)  // button 1 released
        #expect(MouseCodes.mask == b1Pressed | b4Pressed | b5Pressed)
    }

    @Test("COLORTERM=truecolor: the direct-colour terminal type")
    func directVariant() {
        #expect(CursesSession.directVariant(of: "xterm-256color") == "xterm-direct")
        #expect(CursesSession.directVariant(of: "tmux-256color") == "tmux-direct")
        #expect(CursesSession.directVariant(of: "xterm") == "xterm-direct")
        #expect(CursesSession.directVariant(of: "xterm-direct") == nil)
        #expect(CursesSession.wantsDirectColor(["COLORTERM": "truecolor"]) && CursesSession.wantsDirectColor(["COLORTERM": "24bit"]))
        #expect(!CursesSession.wantsDirectColor(["COLORTERM": "yes"]) && !CursesSession.wantsDirectColor([:]))
    }
}

@Suite("Job queue across threads")
struct JobQueueTests {
    /// A loader that blocks until released, and counts the loads that ran to the end.
    final class GatedLoader: Sendable {
        let started = Mutex<[String]>([])
        let gate = DispatchSemaphore(value: 0)

        func load(_ request: InputSpec) throws -> QKInput {
            let name = request.displayName
            started.withLock { $0.append(name) }
            gate.wait()
            let grid = TokenGrid(t: 1, h: 8, w: 8)
            let values = [Float](repeating: 0.5, count: grid.tokens * 4)
            return QKInput(name: name, q: HeadTokens(values, heads: 1, tokens: grid.tokens, headDim: 4),
                           k: HeadTokens(values, heads: 1, tokens: grid.tokens, headDim: 4), grid: grid, order: .raster)
        }
    }

    /// Waits for the wake pipe to say a job finished, then takes the outcomes.
    func outcomes(_ queue: JobQueue, _ wake: WakePipe, count: Int) -> [(lane: JobLane, generation: Int, outcome: JobOutcome)] {
        var all: [(lane: JobLane, generation: Int, outcome: JobOutcome)] = []
        let end = Date().addingTimeInterval(10)
        while all.count < count && Date() < end {
            var fd = pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, 100)
            _ = wake.drain()
            all += queue.take()
        }
        return all
    }

    /// Loads "old" (generation 1); while the worker is inside the loader, the main thread
    /// moves on to generation 2 (loading "new"), keeping `keeping`; returns both outcomes.
    func overtake(keeping: Int?) throws -> [(lane: JobLane, generation: Int, outcome: JobOutcome)] {
        let wake = try WakePipe()
        let loader = GatedLoader()
        let queue = JobQueue(wake: wake, loader: { request, _, _ in try loader.load(request) })
        var generations = Generations()
        generations[.map] = 1
        queue.setNewest(generations)
        queue.submit(.loadInput(request: InputSpec(source: .file("old")), block: .nabla, generation: 1))
        while loader.started.withLock({ $0.isEmpty }) { Thread.sleep(forTimeInterval: 0.001) }
        generations[.map] = 2
        queue.setNewest(generations, keeping: keeping)
        queue.submit(.loadInput(request: InputSpec(source: .file("new")), block: .nabla, generation: 2))
        loader.gate.signal()
        loader.gate.signal()
        return outcomes(queue, wake, count: 2)
    }

    @Test("a job that became stale on the main thread stops on the worker and reports cancelled")
    func staleCancelled() throws {
        let done = try overtake(keeping: nil)
        #expect(done.map(\.generation) == [1, 2])
        if case .cancelled = done.first?.outcome {} else { Issue.record("the stale job was not cancelled: \(String(describing: done.first?.outcome))") }
        if case .loaded(let input, _, _, _, _) = done.last?.outcome { #expect(input.name == "new") } else { Issue.record("no load for the newest") }
    }

    @Test("the load a newer one may fall back to is not cancelled")
    func fallbackKept() throws {
        let done = try overtake(keeping: 1)
        #expect(done.count == 2)
        #expect(done.allSatisfy { if case .loaded = $0.outcome { true } else { false } })
    }
}
