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
        for (key, marker) in [("c", "compare masks"), ("f", "follow · head 0"), ("w", "threshold sweep")] {
            try tmux.literal(key)
            try tmux.wait("the \(key) view") { $0.contains(marker) }
            try tmux.keys("Escape")
            try tmux.wait("the map after \(key)") { !$0.contains(marker) && $0.contains("cursor") }
        }
        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }
}
