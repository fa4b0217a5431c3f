import ArgumentParser
import Foundation
import NablaCore

/// `nabla merge OUT1 OUT2 ... --out DIR`: the outputs of `mask --all --shard I/N` runs
/// combined into what one run writes (`ModelShards.merge`).
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the --out folders of mask --all --shard I/N runs into one whole-model output.",
        discussion: """
        Takes every shard of one run (the same dump, block, threshold, STA window and recall), \
        copies each pair folder and writes the model.json a single run writes. Shards of \
        different runs, a shard given twice or a missing shard are refused, naming the field \
        or shard. The --out folder is replaced whole, or left as it was when the merge fails.
        """
    )

    @Argument(help: ArgumentHelp("The shards' output folders.", valueName: "SHARD-OUT"))
    var shards: [String]

    @Option(parsing: .unconditional, help: "The merged output folder.")
    var out: String

    @Flag(help: "Print one JSON object (the merged model.json) instead of the readable summary.")
    var json = false

    func run() throws {
        let report = try ModelShards.merge(shards, into: out)
        if json {
            print(report.json().rendered())
        } else {
            print(report.text())
            print("wrote      \(report.pairs.count) pair folders and model.json to \(Shown.path(out)) from \(shards.count) shards")
        }
    }
}
