import NablaCore

/// A cancellation poll passed on to a `MethodContext` for the length of one job.
final class CancelPoll: @unchecked Sendable {
    private let body: () -> Bool
    init(_ body: @escaping () -> Bool) { self.body = body }
    func poll() -> Bool { body() }
}

extension TeachingJob {
    /// The methods view's sweep (`MethodSweep` of every method in `SparseMethods.all`, each
    /// over its own range, and the nabla mask at `settings` as a row of its own): on the
    /// head alone (an input of that one head) or on every head.
    /// - Throws: `CancellationError` when `isCancelled` turned true.
    func performMethods(settings: MaskSettings, allHeads: Bool, key: TeachingWorkKey,
                        isCancelled: @escaping @Sendable () -> Bool) throws -> Outcome {
        do {
            let one = allHeads ? input : try input.selecting(HeadSelection([head]))
            let context = try MethodContext(input: one, blocks: blocks, isCancelled: isCancelled)
            let sweep = try MethodSweep(context: context, methods: SparseMethods.all)
            guard let current = try Self.marker(context, settings), let map = context.pooledMapIfMade,
                  let mass = context.trueMassIfMade else { return .cancelled }
            return .methods(MethodsResult(sweep: sweep, current: current, head: allHeads ? nil : head,
                                          made: MethodsMarkPart(allHeads: allHeads, map: map, mass: mass), markedAt: settings),
                            problem: nil, key: key)
        } catch let error as NablaError {
            return .methods(nil, problem: error.message, key: key)
        }
    }

    /// The markers at `settings` of `parts`: each a context of the sweep's own map and
    /// mass (nothing computed again but the cut and its recall).
    /// - Throws: `CancellationError` when `isCancelled` turned true.
    func performMark(settings: MaskSettings, parts: [MethodsMarkPart], key: TeachingWorkKey,
                     isCancelled: @escaping @Sendable () -> Bool) throws -> Outcome {
        var rows: [(allHeads: Bool, row: MethodSweep.Row)] = []
        for part in parts {
            let one = part.allHeads ? input : try input.selecting(HeadSelection([head]))
            let context = try MethodContext(input: one, blocks: blocks, map: part.map, trueMass: part.mass, isCancelled: isCancelled)
            guard !isCancelled(), let row = try Self.marker(context, settings) else { throw CancellationError() }
            rows.append((part.allHeads, row))
        }
        return .methodsMark(rows, settings: settings, key: key)
    }

    /// The nabla mask at `settings` as a sweep row of `context` (its pooled map and true
    /// mass made once, by the sweep), `nil` when cancelled.
    static func marker(_ context: MethodContext, _ settings: MaskSettings) throws -> MethodSweep.Row? {
        let marked = try MethodSweep(context: context, methods: [NablaMethod.self], settings: [NablaMethod.name: [NablaMethod(settings)]])
        return marked.curves.first?.rows.first
    }
}
