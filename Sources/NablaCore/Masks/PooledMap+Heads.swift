extension PooledMap {
    /// How far a head-by-head computation is: `stage` (`pool`, `map`), `done` of `total`
    /// heads (0 of 1 for pooling).
    public typealias Progress = (_ stage: String, _ done: Int, _ total: Int) -> Void

    /// Pools `input` into `block` blocks, then builds the map one head at a time, telling
    /// `progress` before each stage and polling `isCancelled` between heads (so a
    /// cancelled block change stops within one head's map). The result equals
    /// `compute(_:block:isCancelled:)`'s.
    ///
    /// Memory: the whole map (`8 * heads * N^2` bytes) plus one head's (`8 * N^2`) while
    /// it is copied in.
    /// - Returns: `nil` when cancelled.
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    /// - Complexity: O(heads * (S * D + N^2 * D)), rows of each head in parallel.
    public static func compute(_ input: QKInput, block: BlockShape, progress: Progress,
                               isCancelled: () -> Bool) throws -> PooledMap? {
        let blocks = try BlockGrid(grid: input.grid, block: block)
        var times = StageTimes()
        progress("pool", 0, 1)
        let pooled = times.measure("pool") { PooledBlocks(input: input, blocks: blocks) }
        let n = blocks.count
        var probs: [Double] = []
        probs.reserveCapacity(pooled.heads * n * n)
        var mapTimes = StageTimes()
        for h in 0..<pooled.heads {
            if isCancelled() { return nil }
            progress("map", h, pooled.heads)
            mapTimes.measure("map") { probs.append(contentsOf: blockProbabilities(pooled.head(h))) }
        }
        times.stages.append(("map", mapTimes.total))
        return PooledMap(blocks: blocks, heads: pooled.heads, probs: probs, times: times)
    }
}

extension BlockMask {
    /// The mask of every head from masks of consecutive heads (in head order), as if cut
    /// together: kept flags, margins and statistics joined; `times` summed per stage.
    /// All parts must share the block grid and settings.
    /// - Complexity: O(heads * N^2) (a copy of the kept flags).
    public init(joining parts: [BlockMask]) {
        precondition(!parts.isEmpty, "at least one part")
        let first = parts[0]
        precondition(parts.allSatisfy { $0.blocks == first.blocks && $0.settings == first.settings },
                     "parts must share block grid and settings")
        var kept: [UInt8] = []
        kept.reserveCapacity(parts.reduce(0) { $0 + $1.kept.count })
        for part in parts { kept += part.kept }
        var times = StageTimes()
        for stage in first.times.stages {
            times.stages.append((stage.name, parts.reduce(0) { $0 + ($1.times[stage.name] ?? 0) }))
        }
        self.init(blocks: first.blocks, heads: parts.reduce(0) { $0 + $1.heads }, settings: first.settings,
                  kept: kept, margin: parts.flatMap(\.margin),
                  statistics: MaskStatistics(concatenating: parts.map(\.statistics), n: first.n), times: times)
    }
}
