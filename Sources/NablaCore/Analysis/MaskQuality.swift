/// What masks of one input on one block grid cost in accuracy, for some heads: each
/// mask's recall of the true attention (the share of each query block's softmax mass on
/// its kept key blocks, averaged over query blocks; `TrueBlockMass.recall`) and, with V,
/// the relative L2 error of its block-sparse output against dense attention
/// (`relativeL2Error`). NABLA.md, "What to derive from a mask".
///
/// Layout: `recall[m]` and `error[m].perHead` are per packed head (slot `i` is input head
/// `heads[i]`) of mask `m`.
public struct MaskQuality: Sendable {
    public let heads: [Int]
    public let recall: [[Double]]
    /// `nil` unless the error was asked for.
    public let error: [(perHead: [Double], overall: Double)]?

    /// Runs the true block mass once, then (with `error`) dense attention once and
    /// block-sparse attention once per mask, on heads `heads` (all when `nil`) only.
    /// Returns `nil` when `isCancelled` turned true (polled before every query block).
    /// - Throws: `NablaError.badArgument` for `error` without V, a head out of range or
    ///   work that would not fit in memory; `.badGrid` for a block grid off the input's.
    /// - Complexity: `2 D S^2` flops per head for the mass; with `error`, `4 D S^2` for
    ///   dense and each mask's density's share of that per mask.
    ///
    /// `mass` and `dense`, when a caller already has them for exactly these heads and
    /// blocks (the app's timing panel), are used instead of running those kernels again.
    public static func measure(_ masks: [KeptKeyBlocks], input: QKInput, blocks: BlockGrid, heads: [Int]? = nil,
                               error: Bool, mass known: TrueBlockMass? = nil, dense knownDense: [Float]? = nil,
                               isCancelled: () -> Bool = { false }) throws -> MaskQuality? {
        if error { try requireValues(input) }
        let ops = try AttentionOperands(input: input, blocks: blocks, heads: heads)
        precondition(known.map { $0.heads == ops.heads && $0.n == ops.n } ?? true, "a known mass map of the same heads and blocks")
        guard let mass = known ?? ops.compute(.trueBlockMass, isCancelled: isCancelled).flatMap({
            if case .mass(let m) = $0 { m } else { nil }
        }) else { return nil }
        let slots = ops.heads.count
        let recall = masks.map { m in
            let r = mass.recall(of: m)
            return (0..<slots).map { r.recall(slot: $0) }
        }
        guard error else { return MaskQuality(heads: ops.heads, recall: recall, error: nil) }
        guard let dense = knownDense ?? ops.compute(.dense, isCancelled: isCancelled).flatMap({
            if case .output(let o) = $0 { o } else { nil }
        }) else { return nil }
        var errors: [(perHead: [Double], overall: Double)] = []
        for m in masks {
            guard case .output(let out)? = ops.compute(.sparse(m), isCancelled: isCancelled) else { return nil }
            errors.append(relativeL2Error(out, reference: dense, heads: slots))
        }
        return MaskQuality(heads: ops.heads, recall: recall, error: errors)
    }

    /// - Throws: `NablaError.badArgument` when `input` has no V (the error needs it).
    public static func requireValues(_ input: QKInput) throws {
        guard input.v == nil else { return }
        throw NablaError(.badArgument, "\(input.name) has Q and K but no V: the output error needs V (give Q K V); recall needs only Q and K")
    }
}
