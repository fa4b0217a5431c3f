import NablaCore

/// Reads an input from arguments in the commands' input syntax (`[]` is the built-in
/// sample). The executable implements it with `InputOptions`; tests inject their own.
public typealias InputLoader = @Sendable ([String]) throws -> QKInput

/// Work the app asks its host to do; the host runs jobs off the UI thread (or, headless,
/// at once) and reports back with `InputEvent.jobFinished` carrying the generation.
public enum Effect: Sendable {
    /// Pool `input` into `block` blocks and build the map.
    case computeMap(input: QKInput, block: BlockShape, generation: Int)
    /// Load an input with the loader, then build its map with `block` (or the first
    /// standard shape that divides its grid).
    case loadInput(arguments: [String], block: BlockShape, generation: Int)
    /// One stage of the timing panel's attention for one head; attention jobs have their
    /// own generations (`AppState.attentionGeneration`), so they never cancel map jobs.
    case computeAttention(AttentionJob, generation: Int)
    /// Kernel figures of a teaching view (`TeachingJob`); teaching jobs have their own
    /// generations (`AppState.teachingGeneration`) and queue.
    case computeTeaching(TeachingJob, generation: Int)
    /// Compute the density of every head of every pair of a whole-model dump.
    case surveyModel(pairs: DumpPairs, block: BlockShape, settings: MaskSettings, generation: Int)
    /// Write the mask of `input` with `block` and `settings` to `directory`: the files
    /// `nabla mask --out` writes (`MaskReport.write(to:)`).
    case saveMask(input: QKInput, block: BlockShape, settings: MaskSettings, directory: String, generation: Int)
    case quit

    /// The generation of a job effect.
    public var generation: Int? {
        switch self {
        case .computeMap(_, _, let g), .loadInput(_, _, let g), .surveyModel(_, _, _, let g), .saveMask(_, _, _, _, let g),
             .computeAttention(_, let g), .computeTeaching(_, let g): g
        case .quit: nil
        }
    }

    /// Whether the effect is attention work (its own queue and generations).
    public var isAttention: Bool {
        if case .computeAttention = self { return true }
        return false
    }

    /// Whether the effect is a teaching view's kernel work (its own queue and generations).
    public var isTeaching: Bool {
        if case .computeTeaching = self { return true }
        return false
    }
}

/// What the timing panel needs computed for head `head`: the true block mass (recall and
/// oracle), block-sparse attention under `mask`, or dense attention.
public struct AttentionJob: Sendable {
    public enum Stage: Sendable, Hashable { case recall, sparse, dense }

    /// What a stage produced: its result and the kernel's wall time in ms (packing
    /// excluded), or why there is none.
    public enum Outcome: Sendable {
        case done(AttentionWorkResult, ms: Double)
        case cancelled
        case failed(String)
    }

    public var input: QKInput
    public var blocks: BlockGrid
    public var head: Int
    public var mask: BlockMask
    public var stage: Stage

    /// Runs the stage on one head.
    func perform(isCancelled: () -> Bool) -> JobOutcome {
        .attention(stage, outcome(isCancelled: isCancelled))
    }

    func outcome(isCancelled: () -> Bool) -> Outcome {
        if isCancelled() { return .cancelled }
        let ops: AttentionOperands
        do {
            ops = try AttentionOperands(input: input, blocks: blocks, heads: [head])
        } catch {
            return .failed((error as? NablaError)?.message ?? "\(error)")
        }
        let work: AttentionWork
        switch stage {
        case .recall: work = .trueBlockMass
        case .sparse: work = .sparse(KeptKeyBlocks(mask))
        case .dense: work = .dense
        }
        let start = ContinuousClock.now
        guard let result = ops.compute(work, isCancelled: isCancelled) else { return .cancelled }
        let d = ContinuousClock.now - start
        let ms = Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
        return .done(result, ms: ms)
    }
}

/// What a background job produced.
public enum JobOutcome: Sendable {
    case computed(PooledMap)
    /// A new input and its map; `note` says why the block shape changed, if it did;
    /// `pairs` when the input is one pair of a whole-model dump.
    case loaded(QKInput, PooledMap, note: String?, pairs: DumpPairs?)
    /// Per pair, per head: the density at `block` and `settings` (the model view).
    case surveyed([[Double]], block: BlockShape, settings: MaskSettings)
    /// The files a save wrote, and where.
    case saved([String], directory: String)
    case failed(String)
    /// One attention stage of the timing panel (always this case, even when cancelled or
    /// failed, so it is never taken for a map job of the same generation number).
    case attention(AttentionJob.Stage, AttentionJob.Outcome)
    /// A teaching view's kernel figures (always this case, as for attention).
    case teaching(TeachingJob.Outcome)
    /// The job saw that it had become stale and stopped.
    case cancelled
}

/// Runs the job of an effect through the engine. Called on a background thread by the
/// terminal runtime and synchronously by headless rendering; `isCancelled` is polled
/// between stages.
public enum Jobs {
    public static func perform(_ effect: Effect, loader: InputLoader,
                               isCancelled: () -> Bool = { false }) -> JobOutcome {
        do {
            switch effect {
            case .quit:
                return .cancelled
            case .saveMask(let input, let block, let settings, let directory, _):
                let report = try MaskReport(input: input, block: block, settings: settings)
                return .saved(try report.write(to: directory), directory: directory)
            case .computeAttention(let job, _):
                return job.perform(isCancelled: isCancelled)
            case .computeTeaching(let job, _):
                return .teaching(job.perform(isCancelled: isCancelled))
            case .computeMap(let input, let block, _):
                guard let map = try PooledMap.compute(input, block: block, isCancelled: isCancelled) else { return .cancelled }
                return .computed(map)
            case .surveyModel(let pairs, let block, let settings, _):
                guard let density = try survey(pairs, block: block, settings: settings, loader: loader,
                                               isCancelled: isCancelled) else { return .cancelled }
                return .surveyed(density, block: block, settings: settings)
            case .loadInput(let arguments, let block, _):
                let pairs = DumpPairs.detect(arguments)
                let input = try loader(pairs.map { $0.arguments(for: $0.index) } ?? arguments)
                if isCancelled() { return .cancelled }
                var use = block
                var note: String?
                if !block.divides(input.grid) {
                    // NABLA's own block first, then the others in cycling order.
                    guard let other = ([BlockShape.nabla] + BlockShape.standard).first(where: { $0.divides(input.grid) }) else {
                        let shapes = BlockShape.standard.map(\.description).joined(separator: ", ")
                        return .failed("grid \(input.grid) of \(input.name) is divisible by none of \(shapes); nothing changed (nabla view --block BTxBHxBW opens it with a block that divides)")
                    }
                    use = other
                    note = "block \(block) does not divide grid \(input.grid); using \(other)"
                }
                guard let map = try PooledMap.compute(input, block: use, isCancelled: isCancelled) else { return .cancelled }
                return .loaded(input, map, note: note, pairs: pairs)
            }
        } catch let error as NablaError {
            return .failed(error.message)
        } catch {
            return .failed(String(describing: error).split(separator: "\n").first.map(String.init) ?? "failed")
        }
    }
}
