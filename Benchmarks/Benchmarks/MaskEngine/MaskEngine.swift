import Benchmark
import NablaCore

/// The mask engine on the built-in sample (8 heads, N = 384, thr 0.9): the full
/// computation as `nabla mask` runs it, each of its costly stages alone, and a re-cut of
/// the cached map, which is what the terminal app does on every threshold key press.
/// The re-cut against the full computation is the ratio that matters; `nabla bench`
/// prints both in one run.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 1,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 50
    )

    guard let input = try? BuiltinSample.load() else { fatalError("the built-in sample must load") }
    let settings = MaskSettings(threshold: 0.9)

    Benchmark("sample: full masks (pool, map, cut, stats, rows)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try MaskReport(input: input, block: .nabla, settings: settings))
        }
    }

    Benchmark("sample: pool + map") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try PooledMap.compute(input, block: .nabla))
        }
    }

    guard let map = try? PooledMap.compute(input, block: .nabla) else { fatalError("the sample's map must compute") }
    Benchmark("sample: re-cut at a new threshold") { benchmark in
        var threshold = 0.5
        for _ in benchmark.scaledIterations {
            threshold = threshold >= 0.99 ? 0.5 : threshold + 0.01
            blackHole(map.cut(MaskSettings(threshold: threshold)))
        }
    }

    Benchmark("sample: re-cut with STA 11x3x3") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(map.cut(MaskSettings(threshold: 0.9, sta: .kandinsky)))
        }
    }

    Benchmark("sample: generation (scene, latent, stand-in layer)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try BuiltinSample.load())
        }
    }
}
