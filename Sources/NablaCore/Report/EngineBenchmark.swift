import Foundation

/// Times the mask engine on one input, as `nabla bench` reports it: every stage of a
/// full computation over several runs, and, in the same runs, the baselines the figures
/// are read against (a re-cut at a new threshold, and the arithmetic rate of the map).
public struct EngineBenchmark: Sendable {
    public let inputName: String
    public let grid: TokenGrid
    public let heads: Int
    public let headDim: Int
    public let blocks: BlockGrid
    public let settings: MaskSettings
    /// One `StageTimes` per measured run of the full computation (pool ... block_mask).
    public let runs: [StageTimes]
    /// Wall time of re-cutting the cached map at `recutThreshold` (cut, sta, stats), per run.
    public let recuts: [Double]
    public let recutThreshold: Double
    /// Wall time of the cut alone by selection (`cut`'s first stage) and by a full sort
    /// of every row (`cutBySorting`, the previous engine's method), per run, at the same
    /// threshold: the same-run baseline of the cut.
    public let selectionCuts: [Double]
    public let sortingCuts: [Double]
    /// Whether every sorted cut kept exactly the selection cut's blocks.
    public let cutsAgree: Bool
    /// Wall time of the map kernel alone on the same pooled vectors, per run: the engine's
    /// (vectorised exp) and the previous kernel's (libm's exp entry by entry), the same-run
    /// baseline of the map.
    public let vectorMaps: [Double]
    public let libmMaps: [Double]
    /// Largest difference between the two kernels' probabilities over all runs.
    public let mapsDiffer: Double
    /// Bytes of Q and K read by pooling.
    public let inputBytes: Int
    public let density: Double

    /// Runs the engine `warmup + repeats` times on `input` and keeps the last `repeats`.
    /// - Throws: `NablaError.badGrid` when `block` does not divide the input's grid.
    public init(input: QKInput, block: BlockShape, settings: MaskSettings, repeats: Int, warmup: Int = 1) throws {
        precondition(repeats > 0 && warmup >= 0, "at least one measured run")
        var runs: [StageTimes] = []
        var recuts: [Double] = []
        var density = 0.0
        var selection: [Double] = [], sorting: [Double] = []
        var agree = true
        var vectorMaps: [Double] = [], libmMaps: [Double] = []
        var mapsDiffer = 0.0
        let blocks = try input.blockGrid(block)
        let pooled = PooledBlocks(input: input, blocks: blocks)
        // A re-cut at a different threshold, so nothing computed for `settings` is reused.
        let other = settings.threshold >= 0.5 ? settings.threshold - 0.25 : settings.threshold + 0.25
        for run in 0..<(warmup + repeats) {
            let report = try MaskReport(input: input, block: block, settings: settings)
            var recut = StageTimes()
            recut.measure("recut") { _ = report.map?.cut(MaskSettings(threshold: other, sta: settings.sta)) }
            var cuts = StageTimes()
            let plain = report.map.map { map in cuts.measure("select") { map.cut(MaskSettings(threshold: settings.threshold)) } }
            let sorted = report.map.map { map in cuts.measure("sort") { map.cutBySorting(threshold: settings.threshold) } }
            agree = agree && plain?.kept == sorted
            var kernels = StageTimes()
            let vector = kernels.measure("vector") { PooledMap.blockProbabilities(pooled) }
            let libm = kernels.measure("libm") { PooledMap.blockProbabilities(pooled, exponential: .libm) }
            if let vector, let libm {
                mapsDiffer = zip(vector, libm).reduce(mapsDiffer) { Swift.max($0, abs($1.0 - $1.1)) }
            }
            if run >= warmup {
                runs.append(report.times)
                recuts.append(recut.total)
                selection.append(plain?.times["cut"] ?? 0)
                sorting.append(cuts["sort"] ?? 0)
                vectorMaps.append(kernels["vector"] ?? 0)
                libmMaps.append(kernels["libm"] ?? 0)
            }
            density = report.mask.statistics.overallDensity
        }
        self.inputName = input.name
        self.grid = input.grid
        self.heads = input.heads
        self.headDim = input.headDim
        self.blocks = blocks
        self.vectorMaps = vectorMaps
        self.libmMaps = libmMaps
        self.mapsDiffer = mapsDiffer
        self.settings = settings
        self.runs = runs
        self.recuts = recuts
        self.recutThreshold = other
        self.selectionCuts = selection
        self.sortingCuts = sorting
        self.cutsAgree = agree
        self.inputBytes = 2 * input.heads * input.grid.tokens * input.headDim * input.q.element.size
        self.density = density
    }

    /// Stage names in run order.
    public var stageNames: [String] { runs.first?.stages.map(\.name) ?? [] }

    /// Median and minimum over runs of the stage `name` (`"total"` for the sum).
    public func figures(_ name: String) -> (median: Double, min: Double) {
        let values = runs.map { name == "total" ? $0.total : ($0[name] ?? 0) }
        return (median(values), values.min() ?? 0)
    }

    /// Multiply-adds of the map stage: `heads * N^2 * D` dot-product terms.
    public var mapMultiplyAdds: Double { Double(heads) * Double(blocks.count * blocks.count) * Double(headDim) }

    /// The readable report: a table of stages, then the ratios.
    public func text() -> String {
        var lines: [String] = []
        lines.append("input      \(inputName): grid \(grid), \(heads) heads, head dim \(headDim)")
        lines.append("mask       block \(blocks.block) -> N = \(blocks.count), \(settings), density \(percent(density))")
        lines.append("runs       \(runs.count) measured; median and fastest wall time in ms")
        lines.append("")
        lines.append("stage          median      min")
        for name in stageNames + ["total"] {
            let f = figures(name)
            lines.append(name.padding(toLength: 12, withPad: " ", startingAt: 0) + pad(fixed(f.median, 2), 9) + pad(fixed(f.min, 2), 9))
        }
        let total = figures("total").median
        let recut = median(recuts)
        let map = figures("map").median
        lines.append("")
        lines.append("re-cut at thr \(fixed(recutThreshold, 2)) from the cached map: \(fixed(recut, 2)) ms, "
                     + "\(fixed(total / max(recut, 1e-6), 1))x faster than the full computation")
        lines.append("map stage: \(fixed(2 * mapMultiplyAdds / 1e6, 1)) MFLOP of dot products in \(fixed(map, 2)) ms = "
                     + "\(fixed(2 * mapMultiplyAdds / (max(map, 1e-6) * 1e6), 2)) GFLOP/s (exp and softmax included)")
        let vector = median(vectorMaps), libm = median(libmMaps)
        lines.append("map kernel alone: \(fixed(vector, 2)) ms; with libm's exp entry by entry (the previous softmax, on the same tiled product) "
                     + "\(fixed(libm, 2)) ms: \(fixed(libm / max(vector, 1e-6), 1))x, probabilities within \(String(format: "%.1e", mapsDiffer))")
        let select = median(selectionCuts), sort = median(sortingCuts), pool = figures("pool").median
        lines.append("cut by selection: \(fixed(select, 2)) ms; by a full sort of every row (the previous engine) "
                     + "\(fixed(sort, 2)) ms: \(fixed(sort / max(select, 1e-6), 1))x, "
                     + (cutsAgree ? "identical masks" : "MASKS DIFFER"))
        lines.append("pool stage: \(fixed(Double(inputBytes) / 1e6, 0)) MB of Q/K read in \(fixed(pool, 2)) ms = "
                     + "\(fixed(Double(inputBytes) / (max(pool, 1e-6) * 1e6), 2)) GB/s")
        lines.append("cached map: \(MaskMemory.text(8 * heads * blocks.count * blocks.count)) "
                     + "(the previous engine's sorted rows: \(MaskMemory.text(20 * heads * blocks.count * blocks.count)))")
        lines.append("throughput: \(fixed(Double(heads) / (total / 1e3), 1)) head masks per second, "
                     + "\(fixed(Double(heads * blocks.count) / (total / 1e3) / 1e3, 1))k block rows per second")
        return lines.joined(separator: "\n")
    }

    /// The report as one JSON object: `stages` (median and min per stage and total, ms),
    /// `recut_ms`, `speedup_recut`, `map_gflops`.
    public func json() -> JSON {
        let stages: [(String, JSON)] = (stageNames + ["total"]).map { name in
            let f = figures(name)
            return (name, .object([("median", .number(round3(f.median))), ("min", .number(round3(f.min)))]))
        }
        let total = figures("total").median, recut = median(recuts), map = figures("map").median
        return .object([
            ("input", .string(inputName)),
            ("grid", JSON.triple(grid.t, grid.h, grid.w)),
            ("num_heads", .int(heads)),
            ("head_dim", .int(headDim)),
            ("block", JSON.triple(blocks.block.bt, blocks.block.bh, blocks.block.bw)),
            ("n", .int(blocks.count)),
            ("threshold", .number(settings.threshold)),
            ("sta", settings.sta.map { JSON.triple($0.wt, $0.wh, $0.ww) } ?? .null),
            ("density", .number(density)),
            ("runs", .int(runs.count)),
            ("stages_ms", .object(stages)),
            ("recut_threshold", .number(recutThreshold)),
            ("recut_ms", .number(round3(recut))),
            ("speedup_recut", .number(round3(total / max(recut, 1e-6)))),
            ("map_gflops", .number(round3(2 * mapMultiplyAdds / (max(map, 1e-6) * 1e6)))),
            ("cut_selection_ms", .number(round3(median(selectionCuts)))),
            ("cut_sorting_ms", .number(round3(median(sortingCuts)))),
            ("cuts_agree", .bool(cutsAgree)),
            ("map_kernel_ms", .number(round3(median(vectorMaps)))),
            ("map_kernel_libm_ms", .number(round3(median(libmMaps)))),
            ("map_kernels_max_difference", .number(mapsDiffer)),
            ("pool_gbps", .number(round3(Double(inputBytes) / (max(figures("pool").median, 1e-6) * 1e6)))),
        ])
    }
}

