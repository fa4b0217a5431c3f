import NablaCore

extension Jobs {
    /// The density of every head of every pair at `block` and `settings`, one pair in
    /// memory at a time; `nil` when cancelled. With `pooledLoader`, each pair is pooled in
    /// one pass over its files (`InputSpec.loadPooled`: the map without the token-level
    /// tensors, seconds instead of a whole load at full size), else, or for a pair the
    /// pass cannot read, loaded whole.
    static func survey(_ pairs: DumpPairs, block: BlockShape, settings: MaskSettings, loader: InputLoader,
                       pooledLoader: PooledLoader? = nil, isCancelled: @escaping @Sendable () -> Bool,
                       progress: @escaping @Sendable (JobProgress) -> Void = { _ in }) throws -> [[Double]]? {
        var rows: [[Double]] = []
        let observer = LoadObserver(progress: { _, _, _ in }, isCancelled: isCancelled)
        for i in pairs.prefixes.indices {
            if isCancelled() { return nil }
            progress(.pair(done: i, pairs: pairs.prefixes.count))
            let request = pairs.request(for: i)
            let map: PooledMap?
            if let pooledLoader, let pooled = try pooledLoader(request, block, observer) {
                map = PooledMap.compute(pooled: pooled, isCancelled: isCancelled)
            } else {
                map = try PooledMap.compute(try loader(request, block, observer), block: block, isCancelled: isCancelled)
            }
            guard let map else { return nil }
            rows.append(map.cut(settings).statistics.density)
        }
        return rows
    }

    /// Every head's recall of pair `pair` at `block` and `settings` (the model view):
    /// the pair loaded, pooled and cut as `survey` does, then `ModelReport.recall` (an
    /// estimate samples until the mean over heads is within its half-width). An
    /// estimate of a pair with joint text tokens is exact (`JointRecall`: estimates are
    /// not made there). A `NablaError` or another error (a pair that does not fit, say) comes back as the
    /// outcome's `problem`.
    static func surveyRecall(_ pairs: DumpPairs, pair: Int, block: BlockShape, settings: MaskSettings, how: ModelReport.Recall,
                             loader: InputLoader, isCancelled: @escaping @Sendable () -> Bool,
                             progress: @escaping @Sendable (JobProgress) -> Void) throws -> JobOutcome {
        do {
            let input = try loader(pairs.request(for: pair), block, LoadObserver(progress: { _, _, _ in }, isCancelled: isCancelled))
            guard let map = try PooledMap.compute(input, block: block, isCancelled: isCancelled) else { return .cancelled }
            let how = input.text == nil ? how : .exact
            guard let figures = try ModelReport.recall(of: map.cut(settings), input: input, blocks: map.blocks, how: how,
                                                       overall: true, isCancelled: isCancelled,
                                                       progress: { progress(.recall(head: $0, heads: $1)) }) else { return .cancelled }
            return .surveyedRecall(pair: pair, figures, problem: nil, block: block, settings: settings)
        } catch {
            // A loader stops by throwing when cancelled: that is no problem to show.
            if isCancelled() { return .cancelled }
            return .surveyedRecall(pair: pair, nil, problem: error.shownText, block: block, settings: settings)
        }
    }
}
