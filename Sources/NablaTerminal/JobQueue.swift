import Dispatch
import NablaTUI
import Synchronization

/// Runs the app's jobs one after another on a background queue and hands their outcomes
/// to the main loop: outcomes wait under a mutex, and a byte on the wake pipe says so.
///
/// A job is cancelled (between engine stages) as soon as a newer generation exists.
final class JobQueue: Sendable {
    private let finished = Mutex<[(generation: Int, outcome: JobOutcome)]>([])
    private let newest = Atomic<Int>(0)
    private let kept = Atomic<Int>(-1)
    private let queue = DispatchQueue(label: "nabla.jobs", qos: .userInitiated)
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

    func submit(_ effect: Effect) {
        guard let generation = effect.generation else { return }
        newest.store(generation, ordering: .relaxed)
        queue.async { [self] in
            let outcome = Jobs.perform(effect, loader: loader) { self.isStale(generation) }
            finished.withLock { $0.append((generation, outcome)) }
            wake.wake()
        }
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
