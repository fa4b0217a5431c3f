import ArgumentParser
import NablaCore

extension OrderOption: ExpressibleByArgument {}

/// The options every command that reads Q/K shares; the terminal app's `open` prompt
/// parses the same options.
struct InputOptions: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "Q and K (and optionally V): .npy paths or FILE.safetensors[:KEY]; or one safetensors file holding q and k.",
        valueName: "inputs"))
    var inputs: [String] = []

    @Option(help: ArgumentHelp("Token grid TxHxW, for layouts with a flat sequence axis.", valueName: "TxHxW"))
    var grid: String?

    @Option(help: "Token order of a flat sequence axis: raster or block (block order of --block).")
    var order: OrderOption?

    @Option(help: ArgumentHelp("Axis letters naming every dimension (b h s t y x d), e.g. \"s h d\" or \"b s h d\".", valueName: "AXES"))
    var axes: String?

    @Option(help: "Batch item to take when the batch axis is larger than 1.")
    var batch: Int?

    /// What to open, with `orderBlock` the block shape whose block order `--order block` means.
    func spec(orderBlock: BlockShape = .nabla) throws -> InputSpec {
        var layout = LayoutOptions(order: order, orderBlock: orderBlock, axes: axes, batch: batch)
        if let grid { layout.grid = try TokenGrid(parsing: grid, what: "--grid") }
        let sources = inputs.map(TensorSource.init(parsing:))
        switch sources.count {
        case 0:
            return InputSpec(source: .sample, layout: layout)
        case 1:
            let file = sources[0]
            guard file.key == nil else {
                throw NablaError(.badArgument, "one input '\(file)' names a single tensor; give Q and K, or a file holding q and k")
            }
            let v = TensorSource(path: file.path, key: "v")
            let hasV = (try? v.load()) != nil
            return InputSpec(source: .tensors(q: TensorSource(path: file.path, key: "q"),
                                              k: TensorSource(path: file.path, key: "k"),
                                              v: hasV ? v : nil), layout: layout)
        case 2, 3:
            return InputSpec(source: .tensors(q: sources[0], k: sources[1], v: sources.count == 3 ? sources[2] : nil),
                             layout: layout)
        default:
            throw NablaError(.badArgument, "\(inputs.count) inputs given; expected Q K [V], one file holding q and k, or none")
        }
    }
}

/// Option transforms that keep NablaCore's explanation of a bad value in the message.
enum Parse {
    static func block(_ text: String) throws -> BlockShape { try BlockShape(parsing: text) }
    static func window(_ text: String) throws -> STAWindow { try STAWindow(parsing: text) }
}
