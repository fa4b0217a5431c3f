import ArgumentParser
import Foundation
import NablaCore

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Write the sample files (a latent, a small latent, a Q/K dump) that Samples/ holds.",
        discussion: """
        Every file is generated from nabla's procedural scene and stand-in layer, the same way \
        each time: 'nabla sample --out Samples' regenerates the committed Samples/ byte for byte.
        """
    )

    @Option(help: "Directory to write the files into (created if missing).")
    var out: String = "Samples"

    @Flag(help: "List the files and what they hold, without writing.")
    var list = false

    func run() throws {
        if list {
            for entry in SampleFiles.entries { print("\(entry.name): \(entry.summary)") }
            return
        }
        let names = try SampleFiles.write(to: out)
        for name in names {
            let path = (out as NSString).appendingPathComponent(name)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            print("wrote \(path)" + (size.map { " (\($0) bytes)" } ?? ""))
        }
    }
}
