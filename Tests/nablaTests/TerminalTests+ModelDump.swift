import Foundation
import NablaCore
import Testing

extension TerminalTests {
    @Test("a whole-model dump: n and p move between pairs, m shows the model view, <Enter> opens a cell")
    func modelDump() throws {
        let tmux = Tmux()
        defer { tmux.kill() }
        let dump = SamplesDirectory.path + "/model.safetensors"
        let nabla = NablaProcess.executable.path
        try tmux.start("sh -c 'env -u NO_COLOR \(nabla) \(dump); echo \"EXIT=$?\"; stty -a; sleep 30'")
        try tmux.wait("the first pair", seconds: 60) { $0.contains("model.safetensors:blocks.0.step10") && statusDensity($0) != nil }
        try tmux.literal("n")
        try tmux.wait("the second pair", seconds: 30) { $0.contains("model.safetensors:blocks.0.step40") && statusDensity($0) != nil }
        try tmux.literal("pp")
        try tmux.wait("the last pair, wrapping", seconds: 30) { $0.contains("model.safetensors:blocks.2.step40") }
        try tmux.literal("m")
        let model = try tmux.wait("the model view", seconds: 60) { $0.contains("model · 6") && $0.contains("blocks.1.step10") && $0.contains("%") }
        #expect(model.contains("blocks.0.step10") && model.contains("blocks.2.step40"))
        // From the open pair (the last row) up two rows and one head right, then open it.
        try tmux.keys("Up", "Up", "Right", "Enter")
        let opened = try tmux.wait("pair blocks.1.step40, head 1", seconds: 30) {
            $0.contains("model.safetensors:blocks.1.step40") && !$0.contains("model · 6") && statusDensity($0) != nil
        }
        #expect(opened.contains("head 1 (0-3)"), "head 1, by its tensor index in the status line")
        try tmux.literal("q")
        let end = try tmux.wait("the exit") { $0.contains("EXIT=") && $0.contains("icanon") }
        #expect(end.contains("EXIT=0"))
        #expect(terminalRestored(end))
    }
}
