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

    @Option(parsing: .unconditional, help: ArgumentHelp("Block shape whose block grid to report (and whose block order --order block means; default 1x8x8).",
                               valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    @Option(parsing: .unconditional, help: ArgumentHelp("When the block does not divide the grid: pad (partial edge blocks; the default) or crop (the grid floored to whole blocks).", valueName: "pad|crop"))
    var edge: EdgeMode?

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    func run() throws {
        let layout = try self.layout.options(orderBlock: block)
        let synthesis = try standIn.options()
        guard let file else {
            let summary = try SampleSummary(synthesis: synthesis, block: block, edge: edge ?? .pad)
            if let edge, block.divides(summary.grid) { warn("--edge \(edge) has no effect: block \(block) divides grid \(summary.grid)") }
            print(json ? summary.json().rendered() : summary.text())
            return
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            return try describeFolder(file, axes: layout.axes)
        }
        // FILE:KEY, as every other command takes it: the file, and the tensor chosen.
        let source = TensorSource(parsing: file)
        var summary = try FileSummary(path: source.path, layout: layout, synthesis: synthesis, block: block, edge: edge ?? .pad)
        if let edge, let blocks = summary.blocks, blocks.edgeText == nil {
            warn("--edge \(edge) has no effect: block \(block) divides grid \(blocks.grid)")
        }
        var chosen: FileSummary.Tensor?
        if let key = source.key, summary.pairs.contains(key), !summary.tensors.contains(where: { $0.key == key }) {
            // FILE:PREFIX naming a pair of a whole-model dump: that pair is described.
            summary = try FileSummary(path: source.path, layout: layout, synthesis: synthesis, block: block, pair: key, edge: edge ?? .pad)
        } else if let key = source.key {
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
        if let open = summary.openCommand(options: givenOptions) { add("open with", open) }
        print(lines.joined(separator: "\n"))
    }

    /// The layout, stand-in and block options given to `info`, as options of `nabla mask`
    /// (the suggested command must run as printed: issue 20, item 13).
    var givenOptions: [String] {
        var o: [String] = []
        if let g = layout.grid { o += ["--grid", g] }
        if let order = layout.order { o += ["--order", order.rawValue] }
        if let a = layout.axes { o += ["--axes", a] }
        if let b = layout.batch { o += ["--batch", String(b)] }
        let d = SynthesisOptions()
        if standIn.heads != d.heads { o += ["--heads", String(standIn.heads)] }
        if standIn.headDim != d.headDim { o += ["--head-dim", String(standIn.headDim)] }
        if standIn.patch != .standard { o += ["--patch", standIn.patch.description] }
        if standIn.seed != d.seed { o += ["--seed", String(standIn.seed)] }
        if block != .nabla { o += ["--block", block.description] }
        return o
    }

    /// A folder is read as a whole-model dump: its pairs and the files they come from.
    private func describeFolder(_ path: String, axes: String?) throws {
        let dump = try ModelDump(path: path, axes: axes)
        let pairs = dump.pairs
        if json {
            print(JSON.object([
                ("path", .string(path)), ("format", .string("folder")), ("kind", .string(pairs.isEmpty ? "none" : "model")),
                ("pairs", .array(pairs.map { p in
                    .object([("name", .string(p.name)), ("prefix", .string(p.prefix)), ("q", .string(p.q.description)), ("k", .string(p.k.description)),
                             ("v", p.v.map { .string($0.description) } ?? .null)])
                })),
                ("unpaired", .array(dump.unpaired.map { .string($0) })),
            ]).rendered())
            return
        }
        var lines: [String] = []
        func add(_ label: String, _ value: String) { lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value) }
        add("folder", "\(Shown.path(path)) (a whole-model dump: Q/K pairs PREFIX.q, PREFIX.k)")
        add("pairs", pairs.isEmpty ? "none (no tensors named q and k, or PREFIX.q and PREFIX.k)" : "\(pairs.count)")
        for p in pairs.prefix(50) {
            add("", "\(shellQuoted(p.name))  q \(Shown.path(p.q.description)), k \(Shown.path(p.k.description))"
                + (p.v.map { ", v \(Shown.path($0.description))" } ?? ""))
        }
        if pairs.count > 50 { add("", "... \(pairs.count - 50) more") }
        for (i, line) in dump.unpaired.enumerated() { add(i == 0 ? "unpaired" : "", Shown.path(line)) }
        if let first = pairs.first {
            let rest = givenOptions.isEmpty ? "" : " " + givenOptions.map(shellQuoted).joined(separator: " ")
            add("open with", "nabla mask \(shellQuoted(path + ":" + first.name))\(rest) --threshold 0.9   (every pair: nabla mask \(shellQuoted(path)) --all\(rest) --threshold 0.9 --out DIR)")
        }
        print(lines.joined(separator: "\n"))
    }
}
