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
    private let finished = Mutex<[(generation: Int, outcome: JobOutcome)]>([])
    /// The latest progress report of each lane's running job.
    private let progress = Mutex<[JobLane: (generation: Int, progress: JobProgress)]>([:])
    private let newest = Atomic<Int>(0)
    private let kept = Atomic<Int>(-1)
    private let newestCut = Atomic<Int>(0)
    private let newestAttention = Atomic<Int>(0)
    private let newestTeaching = Atomic<Int>(0)
    /// Interactive work running now (a key on the main loop, map and re-cut jobs).
    private let interactive = Atomic<Int>(0)
    /// One serial queue per lane.
    private let queues: [JobLane: DispatchQueue] = Dictionary(uniqueKeysWithValues:
        ([(.map, "jobs"), (.cut, "cut"), (.attention, "attention"), (.teaching, "teaching")] as [(JobLane, String)])
            .map { ($0.0, DispatchQueue(label: "nabla." + $0.1, qos: .userInitiated)) })
    private let wake: WakePipe
    private let loader: InputLoader

    init(wake: WakePipe, loader: @escaping InputLoader) {
        self.wake = wake
        self.loader = loader
    }

    /// The app's current generation: jobs of older ones stop early and are dropped,
    /// except the one of generation `keeping` (a load a newer load may fall back to).
    func setNewest(_ generation: Int, keeping: Int? = nil) {
        kept.store(keeping ?? -1, ordering: .relaxed)
        newest.store(generation, ordering: .relaxed)
    }

    /// The app's current re-cut generation: older re-cuts stop at the next head.
    func setNewestCut(_ generation: Int) { store(generation, lane: .cut) }

    /// The app's current attention generation: older attention jobs stop early.
    func setNewestAttention(_ generation: Int) { store(generation, lane: .attention) }

    /// The app's current teaching generation: older teaching jobs stop early.
    func setNewestTeaching(_ generation: Int) { store(generation, lane: .teaching) }

    private func store(_ generation: Int, lane: JobLane) {
        switch lane {
        case .map: newest.store(generation, ordering: .relaxed)
        case .cut: newestCut.store(generation, ordering: .relaxed)
        case .attention: newestAttention.store(generation, ordering: .relaxed)
        case .teaching: newestTeaching.store(generation, ordering: .relaxed)
        }
    }

    func submit(_ effect: Effect) {
        guard let generation = effect.generation else { return }
        let lane = effect.lane
        store(generation, lane: lane)
        guard let run = queues[lane] else { preconditionFailure("no queue for lane \(lane)") }
        run.async { [self] in
            let yields = lane == .attention || lane == .teaching
            if !yields { beginInteractive() }
            defer { if !yields { endInteractive() } }
            let isCancelled: @Sendable () -> Bool = {
                if yields { self.yieldToInteractive(generation, lane: lane) }
                return self.isStale(generation, lane: lane)
            }
            let outcome = Jobs.perform(effect, loader: loader, isCancelled: isCancelled,
                                       progress: { self.report($0, lane: lane, generation: generation) })
            finished.withLock { $0.append((generation, outcome)) }
            wake.wake()
        }
    }

    /// Whether a job of `generation` in `lane` is no longer wanted.
    func isStale(_ generation: Int, lane: JobLane = .map) -> Bool {
        switch lane {
        case .map: newest.load(ordering: .relaxed) != generation && kept.load(ordering: .relaxed) != generation
        case .cut: newestCut.load(ordering: .relaxed) != generation
        case .attention: newestAttention.load(ordering: .relaxed) != generation
        case .teaching: newestTeaching.load(ordering: .relaxed) != generation
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
    func take() -> [(generation: Int, outcome: JobOutcome)] {
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
