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

    @Argument(help: ArgumentHelp("A .npy, .safetensors, .npz or torch.save (.pt, .pth) file, or FILE:KEY for one tensor of it.", valueName: "FILE"))
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
        // FILE:KEY, as every other command takes it: the file, and the tensor chosen.
        let source = TensorSource(parsing: file)
        let summary = try FileSummary(path: source.path, layout: layout, synthesis: synthesis, block: block)
        var chosen: FileSummary.Tensor?
        if let key = source.key {
            guard let tensor = summary.tensors.first(where: { $0.key == key }) else {
                let keys = summary.tensors.compactMap(\.key).joined(separator: ", ")
                throw NablaError(.missingTensor, "\(source.path): no tensor '\(key)' (tensors: \(keys.isEmpty ? "none" : keys))")
            }
            chosen = tensor
        }
        if json {
            var report = summary.json(naming: .flags)
            if let chosen, case .object(var fields) = report {
                fields.append(("chosen", .object([("key", .string(chosen.key ?? "")), ("dtype", .string(chosen.dtypeName)),
                                                  ("shape", .array(chosen.shape.map(JSON.int)))])))
                report = .object(fields)
            }
            print(report.rendered())
            return
        }
        var lines = [summary.text(naming: .flags)]
        func add(_ label: String, _ value: String) { lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value) }
        if let chosen { add("chosen", "\(chosen.key ?? "") \(chosen.dtypeName) \(chosen.shape)") }
        if summary.kind == .none, summary.format == "npy" { add("hint", "open Q and K as two files: nabla mask q.npy k.npy") }
        if let open = summary.openCommand { add("open with", open) }
        print(lines.joined(separator: "\n"))
    }
}
