import NablaCore

extension Jobs {
    /// The jobs of the map-first path (`LazyInput`): a load through the one-pass pooling,
    /// a block change pooled again from the file, the token-level data read behind the
    /// map, the model view's density pooled pair by pair. `nil` for any other effect, and for a load without `pooledLoader` or of an
    /// input the pass cannot read (the caller then loads it whole, as before).
    /// - Throws: the loaders' errors (a stopped read throws; the caller reports it as
    ///   cancelled).
    /// - Complexity: a load or block change: one pass over the selected heads' bytes of Q
    ///   and K, then O(heads * N^2 * D) for the map; the token-level load: the loader's.
    static func runLazy(_ effect: Effect, loader: InputLoader, pooledLoader: PooledLoader?,
                        isCancelled: @escaping @Sendable () -> Bool,
                        progress: @escaping @Sendable (JobProgress) -> Void) throws -> JobOutcome? {
        func observer(_ what: String? = nil) -> LoadObserver {
            LoadObserver(progress: { tensor, done, total in
                progress(.reading(tensor: what.map { "\($0) (\(tensor))" } ?? tensor, bytesDone: done, bytesTotal: total))
            },
                         isCancelled: isCancelled)
        }
        /// The map of the pooled input and its first cut; `nil` when cancelled.
        func mapped(_ pooled: PooledInput, _ first: FirstCut?) -> (PooledMap, BlockMask?)? {
            progress(.map(head: 0, heads: pooled.heads))
            guard !isCancelled(), let map = PooledMap.compute(pooled: pooled, isCancelled: isCancelled) else { return nil }
            guard let first, !isCancelled() else { return (map, nil) }
            progress(.cut(head: first.head(in: map), heads: map.heads))
            return (map, first.cut(map))
        }
        switch effect {
        case .loadInput(let request, let block, _, let firstCut):
            guard let pooledLoader else { return nil }
            let pairs = DumpPairs.detect(request)
            let resolved = pairs.map { $0.request(for: $0.index) } ?? request
            guard let pooled = try pooledLoader(resolved, block, observer()) else { return nil }
            if isCancelled() { return .cancelled }
            let note = pooled.blocks.edgeText
            guard let (map, cut) = mapped(pooled, firstCut) else { return .cancelled }
            return .loadedMap(LazyInput(request: resolved, pooled: pooled), map, note: note, pairs: pairs, cut: cut)
        case .poolMap(let request, let block, _, let firstCut):
            guard let pooledLoader, let pooled = try pooledLoader(request, block, observer()) else {
                if isCancelled() { return .cancelled }
                throw NablaError(.unsupported, "\(request.displayName): cannot be pooled again at block \(block)")
            }
            guard !isCancelled(), let (map, cut) = mapped(pooled, firstCut) else { return .cancelled }
            return .computed(map, cut: cut)
        case .loadTokens(let request, let block, _):
            // `loading head 3's token-level data (q.npy) 0.2 of 2.5 GB` for one head.
            let one = request.heads.flatMap { $0.indices.count == 1 ? $0.indices[0] : nil }
            let input = try loader(request, block, observer(one.map { "head \($0)'s token-level data" } ?? "token-level data"))
            return isCancelled() ? .cancelled : .tokens(input)
        case .surveyModel(let pairs, let block, let settings, _):
            guard let pooledLoader else { return nil }
            guard let density = try survey(pairs, block: block, settings: settings, loader: loader, pooledLoader: pooledLoader,
                                           isCancelled: isCancelled, progress: progress) else { return .cancelled }
            return .surveyed(density, block: block, settings: settings)
        case .saveMapMask(let lazy, let map, let mask, let settings, let directory, _):
            let report = MaskReport(name: lazy.name, grid: lazy.grid, order: lazy.order, headDim: lazy.headDim,
                                    headIndices: lazy.headIndices, map: map, mask: mask ?? map.cut(settings))
            return .saved(try report.write(to: directory), directory: directory)
        default:
            return nil
        }
    }
}
