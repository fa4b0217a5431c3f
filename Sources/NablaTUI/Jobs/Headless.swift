/// The app without a terminal: jobs run at once, in order, so the result is
/// deterministic. Used by `nabla render` and by tests. While keys are pressed in a row,
/// attention jobs and the other heads' re-cuts wait until the last key, and only the
/// newest request of each runs (as in the app, where newer requests cancel older ones).
public struct HeadlessApp {
    public var state: AppState
    public let loader: InputLoader
    /// The one-pass pooling a load tries first (`Jobs.perform`); `nil`: loads read whole.
    public let pooledLoader: PooledLoader?

    /// Starts the app at `size` and runs its first load.
    public init(config: AppConfig, size: Size, loader: @escaping InputLoader, pooledLoader: PooledLoader? = nil) {
        state = AppState(config: config)
        self.loader = loader
        self.pooledLoader = pooledLoader
        let effects = start(&state, size: size)
        run(effects)
    }

    /// Sends `event`, then runs every job it starts (and the jobs those start).
    public mutating func send(_ event: InputEvent) {
        run(reduce(&state, event))
    }

    /// Presses `keys` in order; stops after a quit.
    public mutating func press(_ keys: [Key]) {
        deferAttention = true
        for key in keys where !state.quitRequested { send(.key(key)) }
        deferAttention = false
        let held = deferred
        deferred = []
        run(held)
    }

    /// Attention and re-cut effects held back while keys are pressed in a row.
    var deferred: [Effect] = []
    var deferAttention = false

    mutating func run(_ effects: [Effect]) {
        var queue = effects
        while !queue.isEmpty {
            let effect = queue.removeFirst()
            guard let generation = effect.generation else { continue }
            if effect.lane != .map {
                // Only the newest request of the lane counts.
                guard generation == state.newestGeneration(effect.lane) else { continue }
                // What a teaching view draws from (the sweep's cuts, compare's B) is made at
                // once, as the app shows it before the next key can act on it.
                let background = effect.lane == .attention || effect.lane == .cut
                    || (effect.lane == .teaching && !effect.isTeachingBasis)
                if deferAttention && background {
                    deferred = deferred.filter { $0.lane != effect.lane || $0.generation == generation } + [effect]
                    continue
                }
            }
            let outcome = Jobs.perform(effect, loader: loader, pooledLoader: pooledLoader)
            queue += reduce(&state, .jobFinished(lane: effect.lane, generation: generation, outcome: outcome))
        }
    }

    /// The screen at the current size.
    public var screen: Screen { render(state, size: state.size) }
}
