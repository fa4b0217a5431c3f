extension PooledMap {
    /// How far a head-by-head computation is: `stage` (`pool`, `map`), `done` of `total`
    /// heads (0 of 1 for pooling).
    public typealias Progress = (_ stage: String, _ done: Int, _ total: Int) -> Void

    /// Pools `input` into `block` blocks, then builds the map one head at a time into one
    /// array, telling `progress` before each stage and polling `isCancelled` before each
    /// head and within each head's map (every group of query rows), so a cancelled block
    /// change stops at once. The result equals `compute(_:block:isCancelled:)`'s.
    ///
    /// Memory: the whole map, `8 * heads * N^2` bytes.
    /// - Returns: `nil` when cancelled.
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    /// - Complexity: O(heads * (S * D + N^2 * D)), rows of each head in parallel.
    public static func compute(_ input: QKInput, block: BlockShape, progress: Progress,
                               isCancelled: () -> Bool) throws -> PooledMap? {
        let blocks = try input.blockGrid(block)
        var times = StageTimes()
        progress("pool", 0, 1)
        let pooled = times.measure("pool") { PooledBlocks(input: input, blocks: blocks) }
        let size = blocks.count * blocks.count
        var complete = true
        var mapTimes = StageTimes()
        let probs = [Double].filledLarge(count: pooled.heads * size) { out in
            for h in 0..<pooled.heads where complete {
                if isCancelled() {
                    complete = false
                    break
                }
                progress("map", h, pooled.heads)
                let head = UnsafeMutableBufferPointer(rebasing: out[(h * size)..<((h + 1) * size)])
                complete = mapTimes.measure("map") { fillProbabilities(pooled.head(h), into: head, isCancelled: isCancelled) }
            }
        }
        guard complete else { return nil }
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
