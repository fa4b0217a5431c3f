import Foundation
import NablaCore
import NablaFigures

/// Reads the input a request names, telling `observer` how far it is. The executable
/// implements it with `InputSpec.load`; tests inject their own.
///
/// `block` is the block shape the app is at when it asks (after `b`, not the one it
/// started with): an `--order block` input is read in that block's order and the memory
/// check counts that block's map.
public typealias InputLoader = @Sendable (_ request: InputSpec, _ block: BlockShape, _ observer: LoadObserver) throws -> QKInput

/// Turns the words typed after `:open` into a request, in the front end's input syntax.
/// - Throws: `NablaError.badArgument` with a one-line message.
public typealias InputParser = @Sendable (_ words: [String]) throws -> InputSpec

extension AppConfig {
    /// The parser of a front end without options: no words open the built-in sample, one
    /// a file (Q and K, or a latent), two or three Q K [V].
    public static let positionalInputs: InputParser = { words in
        if let option = words.first(where: { $0.hasPrefix("-") }) {
            throw NablaError(.badArgument, "open: \(option): this front end takes paths only")
        }
        let sources = words.map { TensorSource(path: $0) }
        switch sources.count {
        case 0: return InputSpec(source: .sample)
        case 1: return InputSpec(source: .file(words[0]))
        case 2, 3: return InputSpec(source: .tensors(q: sources[0], k: sources[1], v: sources.count == 3 ? sources[2] : nil))
        default: throw NablaError(.badArgument, "open: \(words.count) paths given; expected Q K [V] or one file")
        }
    }
}

/// What a loader reports while it reads an input, and how the app asks it to stop.
public struct LoadObserver: Sendable {
    /// Called as data is read: the tensor being read (`q.npy`), bytes read so far of the
    /// load's total.
    public var progress: @Sendable (_ tensor: String, _ bytesDone: Int, _ bytesTotal: Int) -> Void
    /// Polled by the reader; `true` asks it to stop (it then throws, and the app drops the load).
    public var isCancelled: @Sendable () -> Bool

    public init(progress: @escaping @Sendable (_ tensor: String, _ bytesDone: Int, _ bytesTotal: Int) -> Void,
                isCancelled: @escaping @Sendable () -> Bool) {
        self.progress = progress
        self.isCancelled = isCancelled
    }

    /// Reports nothing and never stops.
    public static let none = LoadObserver(progress: { _, _, _ in }, isCancelled: { false })
}

/// Which stage a long job is in and how far along, for the status line.
public enum JobProgress: Equatable, Sendable {
    /// Reading `tensor`: bytes read so far of the load's total.
    case reading(tensor: String, bytesDone: Int, bytesTotal: Int)
    /// Pooling Q and K into blocks.
    case pool
    /// Building the map of head `head` (0-based) of `heads`.
    case map(head: Int, heads: Int)
    /// Cutting head `head` (0-based) of `heads` in the background.
    case cut(head: Int, heads: Int)

    /// `loading q.npy 1.2 of 2.0 GB`, `pool`, `map head 3 of 8`, `cut head 5 of 8`.
    public var text: String {
        switch self {
        case .reading(let tensor, let done, let total):
            let gb = Double(total) >= 1e9
            let unit = gb ? 1e9 : 1e6
            let digits = gb ? 1 : 0
            return "loading \(tensor) \(fixed(Double(done) / unit, digits)) of \(fixed(Double(total) / unit, digits)) \(gb ? "GB" : "MB")"
        case .pool: return "pool"
        case .map(let head, let heads): return "map head \(head) of \(heads)"
        case .cut(let head, let heads): return "cut head \(head) of \(heads)"
        }
    }
}

/// The queues jobs run on, each with its own generations: a job is stale when a newer
/// job of its lane exists, and never because of another lane's.
public enum JobLane: Sendable, Hashable {
    /// Loads, block shapes, the model survey and saves (`AppState.generation`).
    case map
    /// The other heads' re-cut after a threshold or STA change (`AppState.cutGeneration`).
    case cut
    /// The timing panel's attention stages (`AppState.attentionGeneration`).
    case attention
    /// A teaching view's kernel work (`AppState.teachingGeneration`).
    case teaching
    /// File-system work a person asked for at the prompt: figures written by `:plot`,
    /// directories listed for Tab completion.
    case files
}

/// One entry of a directory listing (Tab completion at the prompt).
public struct DirectoryEntry: Sendable, Equatable {
    public var name: String
    public var isDirectory: Bool

    public init(name: String, isDirectory: Bool) {
        self.name = name
        self.isDirectory = isDirectory
    }
}

/// Work the app asks its host to do; the host runs jobs off the UI thread (or, headless,
/// at once) and reports back with `InputEvent.jobFinished` carrying the generation.
public enum Effect: Sendable {
    /// Pool `input` into `block` blocks and build the map, then cut `firstCut`'s head.
    case computeMap(input: QKInput, block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
    /// Load the input `request` names with the loader, then build its map with `block` (or the first
    /// standard shape that divides its grid), then cut `firstCut`'s head.
    case loadInput(request: InputSpec, block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
    /// One stage of the timing panel's attention for one head; attention jobs have their
    /// own generations (`AppState.attentionGeneration`), so they never cancel map jobs.
    case computeAttention(AttentionJob, generation: Int)
    /// Kernel figures of a teaching view (`TeachingJob`); teaching jobs have their own
    /// generations (`AppState.teachingGeneration`) and queue.
    case computeTeaching(TeachingJob, generation: Int)
    /// Compute the density of every head of every pair of a whole-model dump.
    case surveyModel(pairs: DumpPairs, block: BlockShape, settings: MaskSettings, generation: Int)
    /// Write the map on screen and its mask at `settings` to `directory`: the files
    /// `nabla mask --out` writes (`MaskReport.write(to:)`). `mask` is the mask of every
    /// head when the screen holds it; otherwise (a re-cut pending) the job cuts `map`.
    case saveMask(input: QKInput, map: PooledMap, mask: BlockMask?, settings: MaskSettings, directory: String, generation: Int)
    /// Cut every head of `map` at `settings` except those in `done` (already cut, one head
    /// each, keyed by head) and join them into the mask of every head.
    case cutHeads(map: PooledMap, settings: MaskSettings, done: [Int: BlockMask], generation: Int)
    /// Cut head `head` of `map` at each of `settings` ahead of time (the settings one key
    /// away), so that the key's redraw finds its cut done.
    case prefetchCuts(map: PooledMap, head: Int, settings: [MaskSettings], generation: Int)
    /// Write `figure` to `path`, SVG, PNG or PDF by its extension, as `nabla plot` does
    /// (`:plot`; the file is replaced whole).
    case writeFigure(Figure, path: String, generation: Int)
    /// List directory `path` for Tab completion of `line`, the prompt's text before the
    /// cursor when Tab was pressed.
    case listDirectory(path: String, line: String, generation: Int)
    case quit

    /// The generation of a job effect.
    public var generation: Int? {
        switch self {
        case .computeMap(_, _, let g, _), .loadInput(_, _, let g, _), .surveyModel(_, _, _, let g), .saveMask(_, _, _, _, _, let g),
             .computeAttention(_, let g), .cutHeads(_, _, _, let g), .prefetchCuts(_, _, _, let g),
             .computeTeaching(_, let g), .writeFigure(_, _, let g), .listDirectory(_, _, let g): g
        case .quit: nil
        }
    }

    /// Whether the effect is a teaching view's kernel work (the teaching lane).
    public var isTeaching: Bool { lane == .teaching }
    /// A teaching job that makes what its view draws from (`TeachingJob.isBasis`).
    public var isTeachingBasis: Bool {
        if case .computeTeaching(let job, _) = self { return job.isBasis }
        return false
    }

    /// The queue and generations of a job effect.
    public var lane: JobLane {
        switch self {
        case .computeAttention: .attention
        case .computeTeaching: .teaching
        case .cutHeads, .prefetchCuts: .cut
        case .writeFigure, .listDirectory: .files
        default: .map
        }
    }

}

/// What the timing panel needs computed for head `head`: the true block mass (recall and
/// oracle), block-sparse attention under `mask`, or dense attention.
public struct AttentionJob: Sendable {
    /// `estimate`: recall from sampled query blocks, back within seconds
    /// (`AttentionJob+Estimate.swift`), before the exact `recall`.
    public enum Stage: Sendable, Hashable { case estimate, recall, sparse, dense }

    /// What a stage produced: its result and the kernel's wall time in ms (packing
    /// excluded), or why there is none.
    public enum Outcome: Sendable {
        case done(AttentionWorkResult, ms: Double)
        case estimated(AttentionEstimate)
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
        if stage == .estimate { return estimate(isCancelled: isCancelled) }
        let ops: AttentionOperands
        do {
            ops = try AttentionOperands(input: input, blocks: blocks, heads: [head])
        } catch {
            return .failed((error as? NablaError)?.message ?? "\(error)")
        }
        let work: AttentionWork
        switch stage {
        case .recall, .estimate: work = .trueBlockMass
        case .sparse: work = .sparse(KeptKeyBlocks(mask))
        case .dense: work = .dense
        }
        let start = ContinuousClock.now
        guard let result = ops.compute(work, isCancelled: isCancelled) else { return .cancelled }
        let ms = (ContinuousClock.now - start).milliseconds
        // The peak dense attention is shown a share of: measured once, here in the
        // background, after the timed run.
        if stage == .dense { _ = KernelVariant.activePeakFlops }
        return .done(result, ms: ms)
    }
}

/// The head on screen and the settings a map job cuts right after the map (in the
/// background, so that the new map's first frame needs no cut on the UI thread).
public struct FirstCut: Sendable {
    public var head: Int
    public var settings: MaskSettings

    /// The head it cuts in `map`: `head`, or the last one if the map has fewer heads.
    func head(in map: PooledMap) -> Int { min(max(head, 0), map.heads - 1) }

    /// The cut of the head, `[1, N, N]`.
    func cut(_ map: PooledMap) -> BlockMask {
        let h = head(in: map)
        return map.cut(settings, heads: h..<(h + 1))
    }
}

/// What a background job produced.
public enum JobOutcome: Sendable {
    /// A map and the cut its job made of `FirstCut`'s head.
    case computed(PooledMap, cut: BlockMask?)
    /// A new input and its map (and first cut); `note` says why the block shape changed,
    /// if it did; `pairs` when the input is one pair of a whole-model dump.
    case loaded(QKInput, PooledMap, note: String?, pairs: DumpPairs?, cut: BlockMask?)
    /// Per pair, per head: the density at `block` and `settings` (the model view).
    case surveyed([[Double]], block: BlockShape, settings: MaskSettings)
    /// The files a save wrote, and where.
    case saved([String], directory: String)
    /// The figure `:plot` wrote.
    case wroteFigure(path: String)
    /// The entries of the directory listed for completing `line`.
    case listed(line: String, [DirectoryEntry])
    /// The mask of every head at the settings of a `cutHeads` job.
    case recut(BlockMask)
    /// Cuts of head `head` of the map `map` made ahead of time, by settings (those done
    /// before a cancel).
    case prefetched(PooledMap.ID, head: Int, [MaskSettings: BlockMask])
    case failed(String)
    /// One attention stage of the timing panel.
    case attention(AttentionJob.Stage, AttentionJob.Outcome)
    /// A teaching view's kernel figures.
    case teaching(TeachingJob.Outcome)
    /// The job saw that it had become stale and stopped (on any lane: the event that
    /// carries an outcome names its lane, `InputEvent.jobFinished`).
    case cancelled
}

/// Runs the job of an effect through the engine. Called on a background thread by the
/// terminal runtime and synchronously by headless rendering; `isCancelled` is polled
/// between stages and heads (and by the loader while it reads), and `progress` is told
/// each stage as it starts.
public enum Jobs {
    public static func perform(_ effect: Effect, loader: InputLoader,
                               isCancelled: @escaping @Sendable () -> Bool = { false },
                               progress: @escaping @Sendable (JobProgress) -> Void = { _ in }) -> JobOutcome {
        do {
            return try run(effect, loader: loader, isCancelled: isCancelled, progress: progress)
        } catch {
            // A loader stops by throwing when cancelled: that is no failure to show.
            if isCancelled() { return .cancelled }
            if let error = error as? NablaError { return .failed(error.message) }
            return .failed(String(describing: error).split(separator: "\n").first.map(String.init) ?? "failed")
        }
    }

    static func run(_ effect: Effect, loader: InputLoader, isCancelled: @escaping @Sendable () -> Bool,
                    progress: @escaping @Sendable (JobProgress) -> Void) throws -> JobOutcome {
        /// The first cut of a new map, with its progress.
        func cutFirst(_ first: FirstCut?, of map: PooledMap) -> BlockMask? {
            guard let first, !isCancelled() else { return nil }
            progress(.cut(head: first.head(in: map), heads: map.heads))
            return first.cut(map)
        }
        /// Map stages as `JobProgress`.
        func mapProgress(_ stage: String, _ done: Int, _ total: Int) {
            progress(stage == "pool" ? .pool : .map(head: done, heads: total))
        }
        switch effect {
        case .quit:
            return .cancelled
        case .writeFigure(let figure, let path, _):
            guard let format = FigureFormat(path: path) else {
                throw NablaError(.badArgument, "\(path): give a \(FigureFormat.extensionList) file")
            }
            try AtomicFile.write(try FigureFile.bytes(figure, format: format, scale: 2, name: path), to: path)
            return .wroteFigure(path: path)
        case .listDirectory(let path, let line, _):
            return .listed(line: line, PromptCompletion.listDirectory(path).map { DirectoryEntry(name: $0.name, isDirectory: $0.directory) })
        case .saveMask(let input, let map, let mask, let settings, let directory, _):
            let report = MaskReport(input: input, map: map, mask: mask ?? map.cut(settings))
            return .saved(try report.write(to: directory), directory: directory)
        case .computeAttention(let job, _):
            return job.perform(isCancelled: isCancelled)
        case .computeTeaching(let job, _):
            return .teaching(job.perform(isCancelled: isCancelled))
        case .computeMap(let input, let block, _, let firstCut):
            guard let map = try PooledMap.compute(input, block: block, progress: mapProgress,
                                                  isCancelled: isCancelled) else { return .cancelled }
            return .computed(map, cut: cutFirst(firstCut, of: map))
        case .cutHeads(let map, let settings, let done, _):
            var parts: [BlockMask] = []
            for h in 0..<map.heads {
                if isCancelled() { return .cancelled }
                if let part = done[h] {
                    parts.append(part)
                } else {
                    progress(.cut(head: h, heads: map.heads))
                    if isCancelled() { return .cancelled }
                    parts.append(map.cut(settings, heads: h..<(h + 1)))
                }
            }
            return .recut(BlockMask(joining: parts))
        case .prefetchCuts(let map, let head, let settings, _):
            var cuts: [MaskSettings: BlockMask] = [:]
            for s in settings {
                if isCancelled() { break }
                cuts[s] = map.cut(s, heads: head..<(head + 1))
            }
            return .prefetched(map.id, head: head, cuts)
        case .surveyModel(let pairs, let block, let settings, _):
            guard let density = try survey(pairs, block: block, settings: settings, loader: loader,
                                           isCancelled: isCancelled) else { return .cancelled }
            return .surveyed(density, block: block, settings: settings)
        case .loadInput(let request, let block, _, let firstCut):
            let pairs = DumpPairs.detect(request)
            let observer = LoadObserver(progress: { progress(.reading(tensor: $0, bytesDone: $1, bytesTotal: $2)) },
                                        isCancelled: isCancelled)
            let input = try loader(pairs.map { $0.request(for: $0.index) } ?? request, block, observer)
            if isCancelled() { return .cancelled }
            // A grid the block does not divide: partial edge blocks (or crop), said on screen.
            let note = try input.blockGrid(block).edgeText
            guard let map = try PooledMap.compute(input, block: block, progress: mapProgress,
                                                  isCancelled: isCancelled) else { return .cancelled }
            return .loaded(input, map, note: note, pairs: pairs, cut: cutFirst(firstCut, of: map))
        }
    }
}
