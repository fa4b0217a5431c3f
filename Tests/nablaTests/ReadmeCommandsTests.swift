import Foundation
import NablaCore
import Testing

/// The README's command examples run as written, on files of the shapes they name, written
/// here: "Open your own Q/K" (each `nabla view` line run as `nabla render` with the same
/// inputs, which `view` and `render` share) and "Commands" (each line as it stands).
/// Lines on a `.pt` file or a capture folder are left out: the tests cannot write either
/// without PyTorch (TorchArchiveTests and python/tests cover those readers).
@Suite("README commands")
struct ReadmeCommandsTests {
    static func readme() throws -> String {
        try String(contentsOfFile: Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md").path, encoding: .utf8)
    }

    /// The `nabla ...` lines of the first code block after `heading`, comments cut.
    static func lines(after heading: String) throws -> [[String]] {
        let text = try readme()
        let at = try #require(text.range(of: heading))
        let open = try #require(text[at.upperBound...].range(of: "```sh\n"))
        let close = try #require(text[open.upperBound...].range(of: "```\n"))
        return text[open.upperBound..<close.lowerBound].split(separator: "\n").compactMap { line in
            let command = line.components(separatedBy: "#").first!.split(separator: " ").map(String.init)
            return command.first == "nabla" ? Array(command.dropFirst()) : nil
        }
    }

    /// `[heads, S, D]` values with some structure.
    static func values(_ count: Int, _ seed: Double) -> [Float] {
        (0..<count).map { Float(sin(Double($0) * 0.37 * seed) + 0.3 * cos(Double($0 / 64) * seed)) }
    }

    @Test("'Open your own Q/K': the npy, safetensors and diffusers lines open")
    func openYourOwn() throws {
        let dir = try Fixtures.temporaryDirectory("readme-open")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let commands = try Self.lines(after: "## Open your own Q/K")
        #expect(commands.count == 5)
        let first = try #require(commands.first)
        let gridAt = try #require(first.firstIndex(of: "--grid"))
        let grid = try TokenGrid(parsing: first[gridAt + 1])
        let (heads, d) = (2, 8), s = grid.tokens
        try NPY.write(Self.values(heads * s * d, 1), shape: [heads, s, d], to: dir + "/q.npy")
        try NPY.write(Self.values(heads * s * d, 2), shape: [heads, s, d], to: dir + "/k.npy")
        try SafetensorsFile.write([("q", .float32, [heads, s, d], Self.values(heads * s * d, 1)),
                                   ("k", .float32, [heads, s, d], Self.values(heads * s * d, 2))], metadata: [:], to: dir + "/layer.safetensors")
        // diffusers' [B, S, heads, D].
        try SafetensorsFile.write([("q", .float32, [1, s, heads, d], Self.values(heads * s * d, 3)),
                                   ("k", .float32, [1, s, heads, d], Self.values(heads * s * d, 4))], metadata: [:], to: dir + "/attn.safetensors")
        var ran = 0
        for command in commands where !command.contains(where: { $0.hasSuffix(".pt") || $0.hasPrefix("dumps/") }) {
            #expect(command.first == "view")
            let r = try NablaProcess.run(["render"] + command.dropFirst() + ["--size", "80x24", "--no-color"], directory: dir)
            #expect(r.status == 0 && r.stdout.contains("head 0 (0-1)"), "nabla \(command.joined(separator: " ")): \(r.stderr)")
            ran += 1
        }
        #expect(ran == 3)
    }

    @Test("'Commands': every line runs and exits 0")
    func commands() throws {
        let dir = try Fixtures.temporaryDirectory("readme-commands")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let commands = try Self.lines(after: "## Commands")
        #expect(commands.count >= 9)
        let shape = [2, 4 * 16 * 16, 16]
        let count = shape.reduce(1, *)
        for (name, seed) in [("q", 1.0), ("k", 2.0), ("v", 3.0)] {
            try NPY.write(Self.values(count, seed), shape: shape, to: dir + "/\(name).npy")
        }
        try SafetensorsFile.write([("q", .float32, shape, Self.values(count, 1)), ("k", .float32, shape, Self.values(count, 2))],
                                  metadata: [:], to: dir + "/layer.safetensors")
        for command in commands {
            let r = try NablaProcess.run(command, directory: dir)
            #expect(r.status == 0, "nabla \(command.joined(separator: " ")): \(r.stderr)")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/masks/mask.npy") && FileManager.default.fileExists(atPath: dir + "/map.png"))
    }
}
