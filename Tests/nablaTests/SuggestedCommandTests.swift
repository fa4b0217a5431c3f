import Foundation
import NablaCore
import Testing

/// Every command nabla suggests runs as printed (issue 20, item 13: `info FILE --grid
/// 8x24x40 --order raster` suggested `nabla mask FILE --threshold 0.9`, which fails without
/// the grid). Each suggestion is taken from the output and run through `/bin/sh`.
@Suite("suggested commands run as printed")
struct SuggestedCommandTests {
    /// The command after `open with` in `info`'s text, up to the note in parentheses,
    /// with `nabla` replaced by the binary under test.
    static func suggestion(_ stdout: String) -> String? {
        guard let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("open with") }) else { return nil }
        var command = line.dropFirst("open with".count).trimmingCharacters(in: .whitespaces)
        if let note = command.range(of: "   (") { command = String(command[..<note.lowerBound]) }
        guard command.hasPrefix("nabla ") else { return nil }
        return NablaProcess.executable.path + command.dropFirst("nabla".count)
    }

    static func shell(_ command: String) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command + " > /dev/null"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("info's 'open with' runs, carrying the layout options info was given",
          arguments: [[String](), ["--grid", "2x16x16", "--order", "raster"], ["--grid", "2x16x16", "--order", "block", "--block", "1x4x4"]])
    func infoSuggestionRuns(options: [String]) throws {
        let dir = try Fixtures.temporaryDirectory("nabla suggested") // a space: the path must be quoted
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flat = options.isEmpty ? [2, 2, 16, 16, 8] : [2, 512, 8]
        let n = flat.reduce(1, *)
        let file = dir + "/q k.safetensors"
        try SafetensorsFile.write([("q", .float32, flat, (0..<n).map { Float(sin(Double($0) * 0.3)) }),
                                   ("k", .float32, flat, (0..<n).map { Float(cos(Double($0) * 0.2)) })],
                                  metadata: [:], to: file)
        let info = try NablaProcess.run(["info", file] + options)
        #expect(info.status == 0, "\(info.stderr)")
        let command = try #require(Self.suggestion(info.stdout), "\(info.stdout)")
        for option in options { #expect(command.contains(option), "\(command)") }
        let run = try Self.shell(command)
        #expect(run.status == 0, "\(command): \(run.stderr)")
        // The folder form suggests a pair of the dump, with the same options.
        let folder = try NablaProcess.run(["info", dir] + options)
        if let pairCommand = Self.suggestion(folder.stdout) {
            let r = try Self.shell(pairCommand)
            #expect(r.status == 0, "\(pairCommand): \(r.stderr)")
        }
    }
}
