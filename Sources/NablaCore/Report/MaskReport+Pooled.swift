extension MaskReport {
    /// The report of the mask of `input`, pooled from the file (`InputSpec.loadPooled`):
    /// the same mask, statistics and rows as `init(releasing:block:settings:)` on the
    /// loaded input, each head's map built, cut and dropped in turn. The `pool` stage is
    /// the read-convert-pool pass.
    /// - Complexity: O(heads * N^2 * D); memory one head's map plus the mask.
    public init(pooled input: PooledInput, settings: MaskSettings, progress: Progress? = nil) {
        let cut = MaskReport.cutHeadByHead(input.pooled, settings: settings, progress: progress)
        progress?("block_mask", 0, 1)
        let rows = MaskReport.flexRows(of: cut.mask)
        inputName = input.name
        grid = input.grid
        order = input.order
        headDim = input.headDim
        headIndices = input.headIndices
        map = nil
        blocks = input.blocks
        heads = input.heads
        mask = cut.mask
        kvNumBlocks = rows.kvNumBlocks
        times = StageTimes([("pool", input.poolMs)]) + cut.times + rows.times
    }

    /// Every head's map built from `pooled`, cut by `settings` and dropped in turn (one
    /// head's `8 * N^2` bytes of map at a time, handed from head to head), joined into one
    /// mask; `times` holds `map`, `cut`, `sta` and `stats` summed over the heads.
    static func cutHeadByHead(_ pooled: PooledBlocks, settings: MaskSettings,
                              progress: Progress?) -> (mask: BlockMask, times: StageTimes) {
        let blocks = pooled.blocks, heads = pooled.heads
        var parts: [BlockMask] = []
        var stages: [String: Double] = [:]
        var margin: [Double] = []
        let size = blocks.count * blocks.count
        // One head's map memory, handed from head to head.
        var storage: [Double] = []
        // Every head's rows are copied in below.
        let kept = [UInt8].filledLarge(count: heads * size) { k in
            for h in 0..<heads {
                progress?("map", h, heads)
                guard let map = PooledMap.compute(pooled.head(h), reusing: &storage) else {
                    preconditionFailure("an uncancellable computation was cancelled")
                }
                let part = map.cut(settings)
                for stage in (map.times + part.times).stages { stages[stage.name, default: 0] += stage.ms }
                _ = UnsafeMutableBufferPointer(rebasing: k[(h * size)..<((h + 1) * size)]).initialize(from: part.kept)
                margin += part.margin
                parts.append(BlockMask(blocks: blocks, heads: 1, settings: settings, kept: [], margin: [],
                                       statistics: part.statistics, times: part.times))
                storage = map.probs
            }
        }
        let times = StageTimes(["map", "cut", "sta", "stats"].map { ($0, stages[$0] ?? 0) })
        let statistics = MaskStatistics(concatenating: parts.map(\.statistics), n: blocks.count)
        let mask = BlockMask(blocks: blocks, heads: heads, settings: settings, kept: kept, margin: margin,
                             statistics: statistics, times: StageTimes(times.stages.filter { ["cut", "sta", "stats"].contains($0.name) }))
        return (mask, times)
    }
}
