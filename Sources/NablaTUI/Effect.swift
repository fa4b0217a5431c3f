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
    /// Compute the density of every head of every pair of a whole-model dump.
    case surveyModel(pairs: DumpPairs, block: BlockShape, settings: MaskSettings, generation: Int)
    /// Write the mask of `input` with `block` and `settings` to `directory`: the files
    /// `nabla mask --out` writes (`MaskReport.write(to:)`).
    case saveMask(input: QKInput, block: BlockShape, settings: MaskSettings, directory: String, generation: Int)
    case quit

    /// The generation of a job effect.
    public var generation: Int? {
        switch self {
        case .computeMap(_, _, let g), .loadInput(_, _, let g), .surveyModel(_, _, _, let g), .saveMask(_, _, _, _, let g): g
        case .quit: nil
        }
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
