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
            let marked = try MethodSweep(context: context, methods: [NablaMethod.self],
                                         settings: [NablaMethod.name: [NablaMethod(settings)]])
            guard let current = marked.curves.first?.rows.first else { return .cancelled }
            return .methods(MethodsResult(sweep: sweep, current: current, head: allHeads ? nil : head), problem: nil, key: key)
        } catch let error as NablaError {
            return .methods(nil, problem: error.message, key: key)
        }
    }
}
