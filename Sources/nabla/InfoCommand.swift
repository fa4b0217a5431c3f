import ArgumentParser
import Foundation
import NablaCore

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "List the tensors in a file and say what nabla would take them to be (Q/K, a latent, or why neither).",
        discussion: """
        Without FILE, describes the built-in sample: its scene, size and the recipe of every head.
        """
    )

    @Argument(help: ArgumentHelp("A .npy, .safetensors, .npz or torch.save (.pt, .pth) file.", valueName: "FILE"))
    var file: String?

    @OptionGroup var layout: LayoutArguments
    @OptionGroup var standIn: StandInArguments

    @Option(help: ArgumentHelp("Block shape whose block grid to report (and whose block order --order block means; default 1x8x8).",
                               valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    func run() throws {
        let layout = try self.layout.options(orderBlock: block)
        let synthesis = try standIn.options()
        guard let file else {
            let summary = try SampleSummary(synthesis: synthesis, block: block)
            print(json ? summary.json().rendered() : summary.text())
            return
        }
        let summary = try FileSummary(path: file, layout: layout, synthesis: synthesis, block: block)
        if json {
            print(summary.json(naming: .flags).rendered())
            return
        }
        var lines = [summary.text(naming: .flags)]
        func add(_ label: String, _ value: String) { lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value) }
        if summary.kind == .none, summary.format == "npy" { add("hint", "open Q and K as two files: nabla mask q.npy k.npy") }
        if let open = summary.openCommand { add("open with", open) }
        print(lines.joined(separator: "\n"))
    }
}
