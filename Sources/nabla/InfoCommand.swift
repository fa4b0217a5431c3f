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

    @Argument(help: ArgumentHelp("A .npy or .safetensors file.", valueName: "FILE"))
    var file: String?

    @Option(help: ArgumentHelp("Token grid TxHxW, for Q/K with a flat sequence axis.", valueName: "TxHxW"))
    var grid: String?

    @Option(help: "Token order of a flat sequence axis: raster or block.")
    var order: OrderOption?

    @Option(help: ArgumentHelp("Axis letters naming every dimension (Q/K: b h s t y x d; latent: b c t y x).", valueName: "AXES"))
    var axes: String?

    @Option(help: "Batch item to take when the batch axis is larger than 1.")
    var batch: Int?

    @Option(help: ArgumentHelp("Patch of the stand-in layer for a latent (default 1x2x2).", valueName: "PTxPHxPW"),
            transform: Parse.patch)
    var patch: PatchShape = .standard

    @Option(help: ArgumentHelp("Block shape whose block grid to report (and whose block order --order block means; default 1x8x8).",
                               valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    func run() throws {
        var layout = LayoutOptions(order: order, orderBlock: block, axes: axes, batch: batch)
        if let grid { layout.grid = try TokenGrid(parsing: grid, what: "--grid") }
        let synthesis = SynthesisOptions(patch: patch)
        guard let file else {
            let summary = try SampleSummary(synthesis: synthesis, block: block)
            print(json ? summary.json().rendered() : summary.text())
            return
        }
        let summary = try FileSummary(path: file, layout: layout, synthesis: synthesis, block: block)
        print(json ? summary.json().rendered() : summary.text())
    }
}
