import Foundation
import NablaCore

/// Reads an input from arguments in the commands' input syntax (`[]` is the built-in
/// sample), telling `observer` how far it is. The executable implements it with
/// `InputOptions`; tests inject their own.
///
/// `block` is the block shape the app is at when it asks (after `b`, not the one it
/// started with): an `--order block` input is read in that block's order and the memory
/// check counts that block's map.
public typealias InputLoader = @Sendable (_ arguments: [String], _ block: BlockShape, _ observer: LoadObserver) throws -> QKInput

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
}

/// Work the app asks its host to do; the host runs jobs off the UI thread (or, headless,
/// at once) and reports back with `InputEvent.jobFinished` carrying the generation.
public enum Effect: Sendable {
    /// Pool `input` into `block` blocks and build the map, then cut `firstCut`'s head.
    case computeMap(input: QKInput, block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
    /// Load an input with the loader, then build its map with `block` (or the first
    /// standard shape that divides its grid), then cut `firstCut`'s head.
    case loadInput(arguments: [String], block: BlockShape, generation: Int, firstCut: FirstCut? = nil)
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
    /// Cut every head of `map` at `settings` except those in `done` (already cut, one head
    /// each, keyed by head) and join them into the mask of every head.
    case cutHeads(map: PooledMap, settings: MaskSettings, done: [Int: BlockMask], generation: Int)
    /// Cut head `head` of `map` at each of `settings` ahead of time (the settings one key
    /// away), so that the key's redraw finds its cut done.
    case prefetchCuts(map: PooledMap, head: Int, settings: [MaskSettings], generation: Int)
    case quit

    /// The generation of a job effect.
    public var generation: Int? {
        switch self {
        case .computeMap(_, _, let g, _), .loadInput(_, _, let g, _), .surveyModel(_, _, _, let g), .saveMask(_, _, _, _, let g),
             .computeAttention(_, let g), .cutHeads(_, _, _, let g), .prefetchCuts(_, _, _, let g),
             .computeTeaching(_, let g): g
        case .quit: nil
        }
    }

    /// What a job of this effect reports when it stops because it became stale.
    var cancelledOutcome: JobOutcome {
        switch self {
        case .computeAttention(let job, _): .attention(job.stage, .cancelled)
        case .cutHeads: .recut(nil)
        case .prefetchCuts(let map, let head, _, _): .prefetched(ObjectIdentifier(map), head: head, [:])
        default: .cancelled
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
        default: .map
        }
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

    /// The cut of the head (the last one if the map has fewer heads), `[1, N, N]`.
    func cut(_ map: PooledMap) -> BlockMask {
        let h = min(max(head, 0), map.heads - 1)
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
    /// The mask of every head at the settings of a `cutHeads` job, or `nil` when it was
    /// cancelled (always this case, like `attention`).
    case recut(BlockMask?)
    /// Cuts of head `head` of the map `map` made ahead of time, by settings (those done
    /// before a cancel; always this case).
    case prefetched(ObjectIdentifier, head: Int, [MaskSettings: BlockMask])
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
/// between stages and heads (and by the loader while it reads), and `progress` is told
/// each stage as it starts.
public enum Jobs {
    public static func perform(_ effect: Effect, loader: InputLoader,
                               isCancelled: @escaping @Sendable () -> Bool = { false },
                               progress: @escaping @Sendable (JobProgress) -> Void = { _ in }) -> JobOutcome {
        // Attention and re-cut outcomes keep their own cases when cancelled, so that they are
        // never taken for a map job's of the same generation number.
        if case .computeAttention(let job, _) = effect { return job.perform(isCancelled: isCancelled) }
        if case .computeTeaching(let job, _) = effect { return .teaching(job.perform(isCancelled: isCancelled)) }
        if case .prefetchCuts = effect {
            // Cuts done before a cancel are kept: they stay valid for their map and head.
            return (try? run(effect, loader: loader, isCancelled: isCancelled, progress: progress)) ?? effect.cancelledOutcome
        }
        do {
            let outcome = try run(effect, loader: loader, isCancelled: isCancelled, progress: progress)
            // Whatever a cancelled job produced (a loader stops by throwing) is dropped.
            return isCancelled() ? effect.cancelledOutcome : outcome
        } catch let error as NablaError {
            return isCancelled() ? effect.cancelledOutcome : .failed(error.message)
        } catch {
            return isCancelled() ? effect.cancelledOutcome
                : .failed(String(describing: error).split(separator: "\n").first.map(String.init) ?? "failed")
        }
    }

    /// Test-only: with `NABLA_TEST_HEAD_DELAY_MS=N` in the environment, map and re-cut jobs
    /// wait N ms before each head (and a load before it reads), so that terminal tests can
    /// see their progress and cancel them on any machine.
    static let testHeadDelay: UInt32? = ProcessInfo.processInfo.environment["NABLA_TEST_HEAD_DELAY_MS"]
        .flatMap { UInt32($0) }.map { $0 * 1000 }

    static func testDelay() {
        if let testHeadDelay { usleep(testHeadDelay) }
    }

    static func run(_ effect: Effect, loader: InputLoader, isCancelled: @escaping @Sendable () -> Bool,
                    progress: @escaping @Sendable (JobProgress) -> Void) throws -> JobOutcome {
        /// The first cut of a new map, with its progress.
        func cutFirst(_ first: FirstCut?, of map: PooledMap) -> BlockMask? {
            guard let first, !isCancelled() else { return nil }
            progress(.cut(head: min(max(first.head, 0), map.heads - 1), heads: map.heads))
            return first.cut(map)
        }
        /// Map stages as `JobProgress`.
        func mapProgress(_ stage: String, _ done: Int, _ total: Int) {
            progress(stage == "pool" ? .pool : .map(head: done, heads: total))
            testDelay()
        }
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
        case .computeMap(let input, let block, _, let firstCut):
            guard let map = try PooledMap.compute(input, block: block, progress: mapProgress,
                                                  isCancelled: isCancelled) else { return .cancelled }
            return .computed(map, cut: cutFirst(firstCut, of: map))
        case .cutHeads(let map, let settings, let done, _):
            var parts: [BlockMask] = []
            for h in 0..<map.heads {
                if isCancelled() { return .recut(nil) }
                if let part = done[h] {
                    parts.append(part)
                } else {
                    progress(.cut(head: h, heads: map.heads))
                    testDelay()
                    if isCancelled() { return .recut(nil) }
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
            return .prefetched(ObjectIdentifier(map), head: head, cuts)
        case .surveyModel(let pairs, let block, let settings, _):
            guard let density = try survey(pairs, block: block, settings: settings, loader: loader,
                                           isCancelled: isCancelled) else { return .cancelled }
            return .surveyed(density, block: block, settings: settings)
        case .loadInput(let arguments, let block, _, let firstCut):
            let pairs = DumpPairs.detect(arguments)
            let observer = LoadObserver(progress: { progress(.reading(tensor: $0, bytesDone: $1, bytesTotal: $2)) },
                                        isCancelled: isCancelled)
            testDelay()
            let input = try loader(pairs.map { $0.arguments(for: $0.index) } ?? arguments, block, observer)
            if isCancelled() { return .cancelled }
            // A grid the block does not divide: partial edge blocks (or crop), said on screen.
            let note = try input.blockGrid(block).edgeText
            guard let map = try PooledMap.compute(input, block: block, progress: mapProgress,
                                                  isCancelled: isCancelled) else { return .cancelled }
            return .loaded(input, map, note: note, pairs: pairs, cut: cutFirst(firstCut, of: map))
        }
    }
}
