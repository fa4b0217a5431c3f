import Dispatch
import NablaTUI
import Synchronization

/// Runs the app's jobs one after another on a background queue and hands their outcomes
/// to the main loop: outcomes wait under a mutex, and a byte on the wake pipe says so.
///
/// A job is cancelled (between engine stages) as soon as a newer generation exists.
/// Attention jobs and teaching-view kernel jobs each run on a queue of their own with
/// their own generations, so neither the timing panel's work nor a teaching view's ever
/// delays or cancels a map, or each other.
final class JobQueue: Sendable {
    private let finished = Mutex<[(generation: Int, outcome: JobOutcome)]>([])
    private let newest = Atomic<Int>(0)
    private let kept = Atomic<Int>(-1)
    private let newestAttention = Atomic<Int>(0)
    private let newestTeaching = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "nabla.jobs", qos: .userInitiated)
    private let attentionQueue = DispatchQueue(label: "nabla.attention", qos: .userInitiated)
    private let teachingQueue = DispatchQueue(label: "nabla.teaching", qos: .userInitiated)
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

    /// The app's current attention generation: older attention jobs stop early.
    func setNewestAttention(_ generation: Int) {
        newestAttention.store(generation, ordering: .relaxed)
    }

    /// The app's current teaching generation: older teaching jobs stop early.
    func setNewestTeaching(_ generation: Int) {
        newestTeaching.store(generation, ordering: .relaxed)
    }

    func submit(_ effect: Effect) {
        guard let generation = effect.generation else { return }
        if effect.isAttention || effect.isTeaching {
            let attention = effect.isAttention
            setNewest(lane: attention, generation)
            (attention ? attentionQueue : teachingQueue).async { [self] in
                let outcome = Jobs.perform(effect, loader: loader) { self.newest(lane: attention) != generation }
                finished.withLock { $0.append((generation, outcome)) }
                wake.wake()
            }
            return
        }
        newest.store(generation, ordering: .relaxed)
        queue.async { [self] in
            let outcome = Jobs.perform(effect, loader: loader) { self.isStale(generation) }
            finished.withLock { $0.append((generation, outcome)) }
            wake.wake()
        }
    }

    /// The newest generation of the attention lane (`true`) or the teaching lane.
    private func newest(lane attention: Bool) -> Int {
        attention ? newestAttention.load(ordering: .relaxed) : newestTeaching.load(ordering: .relaxed)
    }

    private func setNewest(lane attention: Bool, _ generation: Int) {
        if attention { newestAttention.store(generation, ordering: .relaxed) } else { newestTeaching.store(generation, ordering: .relaxed) }
    }

    /// Whether a job of `generation` is no longer wanted.
    func isStale(_ generation: Int) -> Bool {
        newest.load(ordering: .relaxed) != generation && kept.load(ordering: .relaxed) != generation
    }

    /// Outcomes that arrived since the last call, oldest first.
    func take() -> [(generation: Int, outcome: JobOutcome)] {
        finished.withLock { list in
            defer { list.removeAll() }
            return list
        }
    }
}
