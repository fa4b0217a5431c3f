import Foundation

extension MaskReport {
    /// The report of `method`'s mask on `context` (its input and block grid), with the same
    /// statistics, FlexAttention rows and files as NABLA's (`write(to:)`); the pooled mass
    /// and frame coverage are measured on the pooled map. `ambiguous_rows` is 0: only the
    /// CDF cut has a margin.
    /// - Throws: the method's errors; `CancellationError` never (the context is not cancelled).
    public init(method: any SparseMethod, context: MethodContext, progress: Progress? = nil) throws {
        let input = context.input, blocks = context.blocks
        var times = StageTimes()
        progress?("map", 0, 1)
        guard let map = try times.measure("map", { try context.pooledMap() }) else { preconditionFailure("uncancellable") }
        progress?(type(of: method).name, 0, 1)
        guard let kept = try times.measure("method", { try method.kept(context) }) else { preconditionFailure("uncancellable") }
        let margin = [Double](repeating: .infinity, count: input.heads * blocks.count)
        let stats = times.measure("stats") { MaskStatistics(kept: kept, map: map, margin: margin) }
        let mask = BlockMask(blocks: blocks, heads: input.heads, settings: MaskSettings(threshold: 1), kept: kept, margin: margin,
                             statistics: stats, times: times)
        progress?("block_mask", 0, 1)
        self.init(input: input, blocks: blocks, map: map, mask: mask, times: times, method: MethodSpec(method))
    }
}
