import ArgumentParser
import Foundation
import NablaCore

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Write the sample files (a latent, a small latent, a Q/K dump, a whole-model dump) that Samples/ holds.",
        discussion: """
        Every file is generated from nabla's procedural scene and stand-in layer, the same way \
        each time: 'nabla sample --out Samples' regenerates the committed Samples/ byte for byte.
        """
    )

    /// Required: without it, running `nabla sample` anywhere would quietly fill `./Samples`.
    @Option(parsing: .unconditional, help: "Directory to write the files into (created if missing), e.g. --out Samples.")
    var out: String?

    @Flag(help: "List the files and what they hold, without writing.")
    var list = false

    func run() throws {
        if list {
            for entry in SampleFiles.entries { print("\(entry.name): \(entry.summary)") }
            return
        }
        guard let out else {
            throw ValidationError("say where to write the sample files with --out DIR (e.g. --out Samples); --list shows them")
        }
        let names = try SampleFiles.write(to: out)
        for name in names {
            let path = (out as NSString).appendingPathComponent(name)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            print("wrote \(path)" + (size.map { " (\($0) bytes)" } ?? ""))
        }
    }
}
