import NablaCore

extension Jobs {
    /// The density of every head of every pair at `block` and `settings`, one pair in
    /// memory at a time; `nil` when cancelled.
    static func survey(_ pairs: DumpPairs, block: BlockShape, settings: MaskSettings, loader: InputLoader,
                       isCancelled: @escaping @Sendable () -> Bool) throws -> [[Double]]? {
        var rows: [[Double]] = []
        for i in pairs.prefixes.indices {
            if isCancelled() { return nil }
            let input = try loader(pairs.request(for: i), block, LoadObserver(progress: { _, _, _ in }, isCancelled: isCancelled))
            guard let map = try PooledMap.compute(input, block: block, isCancelled: isCancelled) else { return nil }
            rows.append(map.cut(settings).statistics.density)
        }
        return rows
    }
}
