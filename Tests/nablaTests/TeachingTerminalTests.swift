import Foundation
import Testing

/// The teaching views in the real app: each reached by its key and left with Esc.
@Suite("Teaching views in a terminal", .tags(.terminal), .enabled(if: Tmux.available, "tmux is not installed; skipping the terminal tests"))
struct TeachingTerminalTests {
    @Test("c, f and w open compare, follow and sweep; Esc returns to the map each time; q quits cleanly")
    func views() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        let dir = Fixtures.path("golden", "nabla-plus-sta")
        let nabla = NablaProcess.executable.path
        try tmux.start("sh -c 'env -u NO_COLOR \(nabla) \(dir)/q.npy \(dir)/k.npy \(dir)/v.npy; echo \"EXIT=$?\"; stty -a; sleep 30'")
        try tmux.wait("the map", seconds: 60) { statusDensity($0) != nil && $0.contains("cursor") }
        // Each view, and what its background kernels add once they are in (the keys work meanwhile).
        for (key, marker, computed) in [("c", "compare masks", "error  A "), ("f", "follow · head 0", "true block mass kept"),
                                        ("w", "threshold sweep", "measured, head 0: dense")] {
            try tmux.literal(key)
            try tmux.wait("the \(key) view") { $0.contains(marker) }
            if key == "f" { try tmux.literal("t") }  // the kept tiles by the true block mass, and back
            try tmux.wait("the \(key) view's kernel figures", seconds: 60) { $0.contains(computed) }
            if key == "f" { try tmux.literal("t") }
            try tmux.keys("Escape")
            try tmux.wait("the map after \(key)") { !$0.contains(marker) && $0.contains("cursor") }
        }
        // :plot FILE.png in the app: a PNG Python's zlib and struct decode (the map figure, 600 x 560 units at 2 pixels each).
        let tmp = try Fixtures.temporaryDirectory("tmux-plot")
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try tmux.literal(":plot \(tmp)/map.png")
        try tmux.keys("Enter")
        try tmux.wait("the plot") { $0.contains("wrote \(tmp)/map.png") }
        let check = try PlotCommandTests.python(try String(contentsOfFile: Fixtures.path("figures", "check_png.py"), encoding: .utf8),
                                                ["\(tmp)/map.png"])
        #expect(check.status == 0 && check.out.hasPrefix("1200 1120 "), "\(check.out)")
        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }
}
