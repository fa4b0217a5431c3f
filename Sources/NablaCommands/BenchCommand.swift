import ArgumentParser
import NablaCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the mask engine stage by stage on an input, with the ratios that put the figures in context.",
        discussion: """
        Runs the full computation (pool, map, sort, cut, sta, stats, block_mask) --repeat times after a \
        warm-up and prints the median and fastest time of every stage; then, measured in the same runs, \
        a re-cut of the cached map at another threshold (what the terminal app does on every key press) \
        against the full computation, and the arithmetic rate of the map stage. Then block-sparse and dense \
        attention on the first --attention-heads heads (when the input has V): medians, GFLOP/s of the work \
        done and the share of this machine's FP32 peak (an FMA loop on all cores, measured here), and \
        sparse/dense time against density from 5% to 100%. The report names the kernel level in use \
        (--cpu prints it alone). Build with -c release.
        """
    )

    @OptionGroup var input: InputOptions

    @OptionGroup var mask: MaskOptions

    @Option(parsing: .unconditional, help: "Measured runs (after one warm-up run).")
    var `repeat`: Int = 5

    @Option(name: .customLong("attention-heads"), parsing: .unconditional,
            help: "Heads to time attention on (the first N; 0 skips attention). Needs V.")
    var attentionHeads: Int = 1

    @Flag(help: "Print one JSON object instead of the readable report.")
    var json = false

    @Flag(help: "Print the kernel level in use (chosen from the CPU, or NABLA_CPU) and the levels this CPU runs, then exit.")
    var cpu = false

    func validate() throws {
        guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat \(`repeat`) is outside 1...1000") }
        guard attentionHeads >= 0 else { throw ValidationError("--attention-heads \(attentionHeads) is negative") }
    }

    func run() throws {
        if cpu {
            let supported = KernelVariant.supported.map(\.name).joined(separator: ", ")
            print("kernels: \(KernelVariant.active.name) (this CPU runs \(supported))")
            return
        }
        let spec = try input.spec(orderBlock: mask.block)
        // 16-bit Q/K stay in the file unless attention (which reads Float rows) runs too.
        var hasV = false
        if case .qk(_, _, let v, _, _, _) = try spec.plan() { hasV = v != nil }
        let halfInPlace = attentionHeads == 0 || !hasV
        try spec.checkMemory(block: mask.block, use: .cachedMap, halfInPlace: halfInPlace)
        let qk = try spec.load(halfInPlace: halfInPlace)
        noteText(qk, block: mask.block)
        noteEdge(qk, block: mask.block, given: input.edge, reported: false)
        try MaskMemory.check(input: qk, block: mask.block, use: .cachedMap)
        let bench = try EngineBenchmark(input: qk, block: mask.block, settings: mask.settings,
                                        repeats: `repeat`)
        // Attention on the first heads, under the mask the engine computed.
        var attention: AttentionBenchmark?
        if attentionHeads > 0, qk.v != nil {
            let report = try MaskReport(input: qk, block: mask.block, settings: mask.settings)
            guard let map = report.map else { preconditionFailure("MaskReport keeps its map by default") }
            attention = try AttentionBenchmark(input: qk, map: map, mask: report.mask,
                                               heads: Array(0..<min(attentionHeads, qk.heads)), repeats: `repeat`)
        }
        if json {
            var out = bench.json()
            if case .object(var fields) = out, let attention {
                fields.append(("attention", attention.json()))
                out = .object(fields)
            }
            print(out.rendered())
        } else {
            print(bench.text())
            if let attention { print("\n" + attention.text()) }
        }
    }
}
