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
    private let queue = DispatchQueue(label: "nabla.jobs", qos: .userInitiated)
    private let wake: WakePipe
    private let loader: InputLoader

    init(wake: WakePipe, loader: @escaping InputLoader) {
        self.wake = wake
        self.loader = loader
    }

    /// The app's current generation: jobs of older ones stop early and are dropped.
    func setNewest(_ generation: Int) {
        newest.store(generation, ordering: .relaxed)
    }

    func submit(_ effect: Effect) {
        guard let generation = effect.generation else { return }
        setNewest(generation)
        queue.async { [self] in
            let outcome = Jobs.perform(effect, loader: loader) {
                self.newest.load(ordering: .relaxed) != generation
            }
            finished.withLock { $0.append((generation, outcome)) }
            wake.wake()
        }
    }

    /// Outcomes that arrived since the last call, oldest first.
    func take() -> [(generation: Int, outcome: JobOutcome)] {
        finished.withLock { list in
            defer { list.removeAll() }
            return list
        }
    }
}
