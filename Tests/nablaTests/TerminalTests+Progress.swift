import Foundation
import NablaCore
import Testing

/// The app's long work under tmux: a block change shows its stage and how far along, Esc
/// cancels it keeping the previous block shape and map, and threshold keys pressed while
/// the other heads are re-cut end with every head's mask as `nabla mask` computes it.
/// `NABLA_TEST_HEAD_DELAY_MS` slows each head's map and re-cut so that the test sees them
/// (and presses Esc in time) on any machine.
@Suite("Progress and cancel in a terminal", .tags(.terminal), .enabled(if: Tmux.available, "tmux is not installed"))
struct ProgressTerminalTests {
    /// Q/K `[4, 4, 32, 32, 16]` (4 heads, grid 4x32x32) in `dir`; Q of head h is scaled by
    /// 1 + 20h, so that the heads' densities differ (70%, 65%, 59%, 53% at thr 0.7).
    static func input(_ dir: String) throws -> (q: String, k: String) {
        try MaskCommandTests.writeQK(dir, shape: [4, 4, 32, 32, 16]) { q in
            let perHead = q.count / 4
            for i in q.indices { q[i] *= Float(1 + 20 * (i / perHead)) }
        }
    }

    /// Runs `nabla view q k` slowed by `delay` ms per head, then reports its exit and modes.
    /// With `log`, the app writes its `NABLA_DEBUG_TIMING` log there: a line per key and per
    /// finished job (a cancelled one too) once the screen showing it is drawn.
    static func command(_ q: String, _ k: String, delay: Int, log: String? = nil) -> String {
        let timing = log.map { " NABLA_DEBUG_TIMING=\($0)" } ?? ""
        return "sh -c 'env -u NO_COLOR NABLA_TEST_HEAD_DELAY_MS=\(delay)\(timing) \(NablaProcess.executable.path) view \(q) \(k); "
            + "echo \"EXIT=$?\"; stty -a; sleep 30'"
    }

    /// Waits until the app's log shows a job drawn after the last Esc key: the cancelled job
    /// has ended and the screen after it is drawn (whatever it brought would be on screen now).
    static func waitForCancelledJob(_ log: String, seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            if let esc = lines.lastIndex(where: { $0.hasPrefix("key ") && $0.localizedCaseInsensitiveContains("esc") }),
               lines[(esc + 1)...].contains(where: { $0.hasPrefix("job ") }) {
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("timed out after \(seconds) s waiting for the cancelled job in \(log)", sourceLocation: sourceLocation)
    }

    /// The status line (the last non-blank row).
    static func status(_ screen: String) -> String {
        screen.split(separator: "\n").last { !$0.allSatisfy(\.isWhitespace) }.map(String.init) ?? ""
    }

    @Test("a block change shows its stage and progress; Esc cancels it and keeps the block shape and map")
    func cancelBlockChange() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try Self.input(dir)
        let tmux = Tmux()
        defer { tmux.kill() }
        let log = dir + "/timing.log"
        try tmux.start(Self.command(q, k, delay: 400, log: log))
        let first = try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil && $0.contains("block 1x8x8") }
        let density = try #require(statusDensity(first))
        let title = try #require(first.split(separator: "\n").first).prefix(40)

        try tmux.literal("b")
        let running = try tmux.wait("the block change's progress") { screen in
            Self.status(screen).range(of: #"computing \d+x\d+x\d+: map head [0-3] of 4 \(Esc cancels\)"#,
                                      options: .regularExpression) != nil
        }
        // The map on screen stays meanwhile (the status line compacts its fields to 1x8x8).
        #expect(Self.status(running).contains("1x8x8") && running.contains("head 0 (0-3)"))
        try tmux.keys("Escape")
        let after = try tmux.wait("the cancel") { Self.status($0).contains("cancelled computing") }
        #expect(Self.status(after).contains("kept block 1x8x8"))
        #expect(after.contains("block 1x8x8") && statusDensity(after) == density)
        #expect(after.split(separator: "\n").first?.prefix(40) == title)
        // Nothing arrives later: the cancelled map never replaces the kept one.
        Self.waitForCancelledJob(log)
        let later = try tmux.screen()
        #expect(later.contains("block 1x8x8") && statusDensity(later) == density && !later.contains("Esc cancels"))

        // A load is cancelled the same way: the input on screen stays.
        try tmux.literal(":open \(q) \(k)")
        try tmux.keys("Enter")
        try tmux.wait("the load") { Self.status($0).contains("loading") && Self.status($0).contains("(Esc cancels)") }
        try tmux.keys("Escape")
        let kept = try tmux.wait("the load's cancel") { Self.status($0).contains("cancelled loading") }
        #expect(kept.contains("head 0 (0-3)") && !kept.contains("nothing loaded"))
        Self.waitForCancelledJob(log)
        #expect(try tmux.screen().split(separator: "\n").first?.prefix(40) == title)  // the same head, density and view

        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }

    @Test("threshold keys during the other heads' re-cut end with every head's mask as nabla mask computes it")
    func thresholdDuringRecut() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (q, k) = try Self.input(dir)
        let tmux = Tmux()
        defer { tmux.kill() }
        try tmux.start(Self.command(q, k, delay: 300))
        try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil }
        try tmux.literal("{")
        try tmux.wait("the other heads' re-cut") { Self.status($0).contains("cutting the other heads") && $0.contains("thr 0.80") }
        // A newer key while the re-cut runs: it supersedes the older one.
        try tmux.literal("{")
        try tmux.wait("thr 0.70") { $0.contains("thr 0.70") }
        try tmux.literal("o")
        let overview = try tmux.wait("every head re-cut", seconds: 30) { screen in
            screen.contains("heads overview") && statusDensity(screen) != nil && !screen.contains("cutting the other heads")
        }
        let r = try NablaProcess.run(["mask", q, k, "--threshold", "0.7", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let heads = try #require(obj["heads"] as? [[String: Any]])
        #expect(heads.count == 4)
        #expect(Set(heads.compactMap { $0["density"] as? Double }.map(percent)).count == 4, "the heads' densities must differ")
        for entry in heads {
            let h = try #require(entry["head"] as? Int), d = try #require(entry["density"] as? Double)
            #expect(overview.contains("h\(h) \(percent(d))"), "head \(h): \(percent(d)) not in\n\(overview)")
        }
        let overall = try #require(obj["density"] as? Double)
        #expect(overview.contains("density \(percent(overall))"))

        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }
}
