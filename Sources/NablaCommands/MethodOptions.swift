import ArgumentParser
import NablaCore

/// `--method` and the methods' own parameters (issue 21), for `nabla mask`. NABLA's
/// `--threshold` and `--sta` stay in `MaskOptions`; they are also XAttention's threshold
/// and STA's window.
struct MethodOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Sparse-attention method: nabla (default), sta, vsa (topk), xattention, radial, svg, oracle.",
                                                        valueName: "METHOD"))
    var method: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("vsa, oracle: share of key blocks kept per query block, in [0, 1].", valueName: "F"))
    var keep: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("xattention: antidiagonal stride, dividing the block's tokens (default 8).", valueName: "S"))
    var stride: String?

    @Option(name: .customLong("decay-factor"), parsing: .unconditional,
            help: ArgumentHelp("radial: scale of the spatial window (default 1).", valueName: "F"))
    var decayFactor: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("svg: band width in frame slabs (default 1.5).", valueName: "W"))
    var width: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("svg: query rows sampled to choose each head's mask (default 32).", valueName: "N"))
    var samples: String?

    /// Whether a method other than NABLA's own cut was asked for.
    var isOtherMethod: Bool { method.map { $0.lowercased() != "nabla" } ?? false }

    /// Every method parameter given, by name, with `--threshold` and `--sta` from `mask`.
    func values(mask: MaskOptions) -> MethodValues {
        var v: [String: String] = [:]
        v["keep"] = keep
        v["stride"] = stride
        v["decay-factor"] = decayFactor
        v["width"] = width
        v["samples"] = samples
        if let t = mask.threshold { v["threshold"] = "\(t)" }
        if let s = mask.sta { v["sta"] = s.description }
        return MethodValues(v)
    }

    /// The method asked for, with its parameters; `nil` for no `--method`.
    /// - Throws: `NablaError.badArgument` (exit 64) for an unknown method, a parameter it
    ///   does not take or a value out of range.
    func make(mask: MaskOptions) throws -> (any SparseMethod)? {
        guard let method else {
            if let given = values(mask: mask).values.keys.first(where: { !["threshold", "sta"].contains($0) }) {
                throw NablaError(.badArgument, "--\(given) is a parameter of a sparse-attention method; give --method too (\(SparseMethods.namesText))")
            }
            return nil
        }
        return try SparseMethods.make(method, values(mask: mask))
    }
}
