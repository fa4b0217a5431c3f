import ArgumentParser
import NablaCore

extension OrderOption: ExpressibleByArgument {}
extension EdgeMode: ExpressibleByArgument {}

/// How to read Q/K tensors or a latent: `--grid`, `--order`, `--axes`, `--batch`.
struct LayoutArguments: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Token grid TxHxW, for Q/K with a flat sequence axis.", valueName: "TxHxW"))
    var grid: String?

    @Option(parsing: .unconditional, help: "Token order of a flat sequence axis: raster or block (block order of --block).")
    var order: OrderOption?

    @Option(parsing: .unconditional, help: ArgumentHelp("Axis letters naming every dimension: for Q/K b h s t y x d (e.g. \"s h d\"); for a latent b c t y x (e.g. \"t y x c\").", valueName: "AXES"))
    var axes: String?

    @Option(parsing: .unconditional, help: "Batch item to take when the batch axis is larger than 1.")
    var batch: Int?

    @Option(name: .customLong("text-tokens"), parsing: .unconditional,
            help: ArgumentHelp("Joint text tokens in the sequence axis, N at its start (default) or end; the cut runs on the video tokens, text rows and columns are always kept.", valueName: "N[@start|@end]"))
    var textTokens: String?

    /// The options, with `orderBlock` the block shape whose block order `--order block` means.
    func options(orderBlock: BlockShape) throws -> LayoutOptions {
        var layout = LayoutOptions(order: order, orderBlock: orderBlock, axes: axes, batch: batch)
        if let grid { layout.grid = try TokenGrid(parsing: grid, what: "--grid") }
        if let textTokens { layout.text = try TextTokens(parsing: textTokens) }
        return layout
    }
}

/// The stand-in attention layer that derives Q/K from a latent or the built-in sample:
/// `--heads`, `--head-dim`, `--patch`, `--seed`.
struct StandInArguments: ParsableArguments {
    @Option(parsing: .unconditional, help: "Heads of the stand-in layer for a latent or the built-in sample.")
    var heads: Int = SynthesisOptions().heads

    @Option(name: .customLong("head-dim"), parsing: .unconditional, help: "Head dimension of the stand-in layer (even, >= 6; RoPE splits it across time, rows, columns).")
    var headDim: Int = SynthesisOptions().headDim

    @Option(parsing: .unconditional, help: ArgumentHelp("Patch of the stand-in's patch embedding, latent voxels per token (default 1x2x2).",
                               valueName: "PTxPHxPW"), transform: Parse.patch)
    var patch: PatchShape = .standard

    @Option(parsing: .unconditional, help: "Seed of the stand-in layer's projections and bias directions.")
    var seed: UInt64 = SynthesisOptions().seed

    /// The validated options.
    /// - Throws: `NablaError.badArgument` naming the option out of range.
    func options() throws -> SynthesisOptions {
        let synthesis = SynthesisOptions(heads: heads, headDim: headDim, patch: patch, seed: seed)
        try synthesis.validate()
        return synthesis
    }
}

/// The options every command that reads Q/K shares; the terminal app's `open` prompt
/// parses the same options.
struct InputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "Q and K (and optionally V): .npy paths or FILE.safetensors[:KEY]; or one file: a safetensors file holding q and k, or a video latent. None: the built-in sample.",
        valueName: "inputs"))
    var inputs: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("A video latent ([C,T,H,W], [T,H,W,C] or [1,C,T,H,W]; .npy or FILE.safetensors[:KEY]) to derive Q/K from, instead of Q K.", valueName: "FILE"))
    var latent: String?

    @Option(name: .customLong("head-select"), parsing: .unconditional,
            help: ArgumentHelp("Heads to take, by tensor index (0-based): e.g. 0,3,8-11. Default: all.", valueName: "LIST"))
    var headSelect: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("When the block does not divide the grid: pad (partial edge blocks, every token kept; the default) or crop (the grid floored to whole blocks). No effect on a grid the block divides.", valueName: "pad|crop"))
    var edge: EdgeMode?

    @OptionGroup var layout: LayoutArguments
    @OptionGroup var standIn: StandInArguments

    /// What to open, with `orderBlock` the block shape whose block order `--order block` means.
    func spec(orderBlock: BlockShape = .nabla) throws -> InputSpec {
        var spec = try unselectedSpec(orderBlock: orderBlock)
        spec.heads = try headSelect.map { try HeadSelection(parsing: $0) }
        spec.edge = edge
        return spec
    }

    private func unselectedSpec(orderBlock: BlockShape) throws -> InputSpec {
        let layout = try self.layout.options(orderBlock: orderBlock)
        let synthesis = try standIn.options()
        if let latent {
            guard inputs.isEmpty else {
                throw NablaError(.badArgument, "--latent \(latent) and \(inputs.count) positional input(s) given; give one or the other")
            }
            return InputSpec(source: .latent(TensorSource(parsing: latent)), layout: layout, synthesis: synthesis)
        }
        let sources = inputs.map(TensorSource.init(parsing:))
        switch sources.count {
        case 0:
            return InputSpec(source: .sample, layout: layout, synthesis: synthesis)
        case 1:
            let file = sources[0]
            // FILE:KEY names one tensor: a latent. A bare file decides by its contents.
            let source: InputSpec.Source = file.key == nil ? .file(file.path) : .latent(file)
            return InputSpec(source: source, layout: layout, synthesis: synthesis)
        case 2, 3:
            return InputSpec(source: .tensors(q: sources[0], k: sources[1], v: sources.count == 3 ? sources[2] : nil),
                             layout: layout, synthesis: synthesis)
        default:
            throw NablaError(.badArgument, "\(inputs.count) inputs given; expected Q K [V], one file (q and k, or a latent), --latent FILE, or none")
        }
    }
}

/// Option transforms that keep NablaCore's explanation of a bad value in the message.
enum Parse {
    static func block(_ text: String) throws -> BlockShape { try BlockShape(parsing: text) }
    static func window(_ text: String) throws -> STAWindow { try STAWindow(parsing: text) }
    static func patch(_ text: String) throws -> PatchShape { try PatchShape(parsing: text) }
}
