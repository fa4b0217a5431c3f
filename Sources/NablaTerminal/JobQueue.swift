import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NablaTUI
import Synchronization

/// Runs the app's jobs off the main thread and hands their outcomes and progress to the
/// main loop: they wait under a mutex, and a byte on the wake pipe says so.
///
/// Each lane (`JobLane`) has its own serial queue and generations: a job is cancelled
/// (between engine stages, heads and read chunks) as soon as a newer generation of its
/// lane exists, so the timing panel's attention, a teaching view's kernels and the other
/// heads' re-cut never delay or cancel a map or each other, and a block change never
/// cancels a re-cut.
///
/// Attention and teaching work yield: while the main loop handles a key or a map or
/// re-cut job runs, they wait at their next poll of `isCancelled` (every query block), so
/// at scale, where one head's attention takes minutes, they do not take the cores from
/// what a person waits for.
final class JobQueue: Sendable {
    private let finished = Mutex<[(lane: JobLane, generation: Int, outcome: JobOutcome)]>([])
    /// The latest progress report of each lane's running job.
    private let progress = Mutex<[JobLane: (generation: Int, progress: JobProgress)]>([:])
    /// The app's newest generation of each lane (`AppState.generations`, copied here for
    /// the job threads), and the map-lane generation kept alive for a fallback load.
    private let newest = Mutex<(generations: Generations, kept: Int?)>((Generations(), nil))
    /// Interactive work running now (a key on the main loop, map and re-cut jobs).
    private let interactive = Atomic<Int>(0)
    /// One serial queue per lane.
    private let queues: [JobLane: DispatchQueue] = Dictionary(uniqueKeysWithValues:
        ([(.map, "jobs"), (.cut, "cut"), (.attention, "attention"), (.teaching, "teaching"), (.files, "files")] as [(JobLane, String)])
            .map { ($0.0, DispatchQueue(label: "nabla." + $0.1, qos: .userInitiated)) })
    private let wake: WakePipe
    private let loader: InputLoader
    private let pooledLoader: PooledLoader?
    /// Called on the job's thread after each progress report (`TerminalRuntime.Hooks`).
    private let pace: (@Sendable (JobProgress) -> Void)?

    init(wake: WakePipe, loader: @escaping InputLoader, pooledLoader: PooledLoader? = nil,
         pace: (@Sendable (JobProgress) -> Void)? = nil) {
        self.wake = wake
        self.loader = loader
        self.pooledLoader = pooledLoader
        self.pace = pace
    }

    /// The app's current generations: jobs of older ones stop early and are dropped,
    /// except the map-lane job of generation `keeping` (a load a newer load may fall back to).
    func setNewest(_ generations: Generations, keeping: Int? = nil) {
        newest.withLock { $0 = (generations, keeping) }
    }

    func submit(_ effect: Effect) {
        guard let generation = effect.generation else { return }
        let lane = effect.lane
        newest.withLock { $0.generations[lane] = generation }
        guard let run = queues[lane] else { preconditionFailure("no queue for lane \(lane)") }
        run.async { [self] in
            let yields = lane == .attention || lane == .teaching
            if !yields { beginInteractive() }
            defer { if !yields { endInteractive() } }
            let isCancelled: @Sendable () -> Bool = {
                if yields { self.yieldToInteractive(generation, lane: lane) }
                return self.isStale(generation, lane: lane)
            }
            let outcome = Jobs.perform(effect, loader: loader, pooledLoader: pooledLoader, isCancelled: isCancelled,
                                       progress: { self.report($0, lane: lane, generation: generation); self.pace?($0) })
            finished.withLock { $0.append((lane, generation, outcome)) }
            wake.wake()
        }
    }

    /// Whether a job of `generation` in `lane` is no longer wanted.
    func isStale(_ generation: Int, lane: JobLane = .map) -> Bool {
        newest.withLock { now in
            now.generations[lane] != generation && !(lane == .map && now.kept == generation)
        }
    }

    /// Marks interactive work as running (nests).
    func beginInteractive() { interactive.add(1, ordering: .relaxed) }

    func endInteractive() { interactive.subtract(1, ordering: .relaxed) }

    /// Waits while interactive work runs, unless the job became stale.
    private func yieldToInteractive(_ generation: Int, lane: JobLane) {
        while interactive.load(ordering: .relaxed) > 0 && !isStale(generation, lane: lane) {
            usleep(2_000)
        }
    }

    /// Keeps a running job's progress for the main loop (only the latest per lane).
    private func report(_ p: JobProgress, lane: JobLane, generation: Int) {
        let changed = progress.withLock { all in
            defer { all[lane] = (generation, p) }
            return all[lane].map { $0.generation != generation || $0.progress != p } ?? true
        }
        if changed { wake.wake() }
    }

    /// Outcomes that arrived since the last call, oldest first.
    func take() -> [(lane: JobLane, generation: Int, outcome: JobOutcome)] {
        finished.withLock { list in
            defer { list.removeAll() }
            return list
        }
    }

    /// The latest progress of each lane since the last call, as events.
    func takeProgress() -> [InputEvent] {
        progress.withLock { all in
            defer { all.removeAll() }
            return all.map { .jobProgress(lane: $0.key, generation: $0.value.generation, progress: $0.value.progress) }
        }
    }
}
