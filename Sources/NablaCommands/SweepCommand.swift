import ArgumentParser
import Foundation
import NablaCore

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Sweep the threshold: density, pooled mass kept, predicted and measured speed-up, recall and error.",
        discussion: """
        One row per threshold (all heads averaged; --json also gives every head): the density and \
        pooled mass kept of NABLA's cut (as nabla mask computes them), the predicted speed-up \
        1/density; --recall the share of the true attention kept; --error the relative L2 error of \
        the block-sparse output against dense at every threshold (needs V). With V, the kernels \
        run at the --measure thresholds (medians of --repeat runs): measured speed-up dense/sparse \
        and the error there. Build with -c release for timings. --recall --sample N|auto estimates \
        every threshold's recall from one sample of N query blocks per head (stratified by frame; \
        auto: until every head's interval is within +-0.005), with 95% intervals (recall_ci95 in \
        --json); so does --method.
        """
    )

    @OptionGroup var input: InputOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Block shape BTxBHxBW (default 1x8x8).", valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    @Option(parsing: .unconditional, help: ArgumentHelp("Sliding-tile window in blocks, OR-ed into every mask.", valueName: "WTxWHxWW"),
            transform: Parse.window)
    var sta: STAWindow?

    @Option(parsing: .unconditional, help: ArgumentHelp("Thresholds: start:stop:step (ends included) or a list.", valueName: "A:B:STEP"))
    var thresholds: String = "0:1:0.05"

    @Option(parsing: .unconditional, help: ArgumentHelp("Thresholds to run the kernels at (needs V); 'none' for none.", valueName: "LIST"))
    var measure: String = "0.5,0.9,0.99"

    @Option(parsing: .unconditional, help: "Runs of each kernel at the measured points; medians are reported.")
    var `repeat`: Int = 1

    @Flag(help: "Recall of the true attention at every threshold (needs no V).")
    var recall = false

    @OptionGroup var sampling: SampleOptions

    @Flag(help: "Relative L2 output error against dense at every threshold (needs V).")
    var error = false

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Compare sparse-attention methods instead: a comma list of nabla, sta, vsa, xattention, radial, svg, oracle (or all), each over its own parameter range; recall always.", valueName: "LIST"))
    var method: String?

    func validate() throws {
        guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat \(`repeat`) is outside 1...1000") }
        // --method always reports recall.
        try sampling.validate(recall: recall || method != nil)
    }

    func run() throws {
        if let method { return try runMethods(method) }
        let points = try ThresholdSweep.parseThresholds(thresholds)
        let qk = try input.spec(orderBlock: block).load()
        noteText(qk, block: block)
        noteEdge(qk, block: block, given: input.edge, reported: false)
        var measureAt: [Double] = []
        if measure != "none" {
            do {
                measureAt = try ThresholdSweep.parseThresholds(measure)
            } catch let error as NablaError {
                throw NablaError(error.code, "--measure: " + error.message)
            }
        }
        // Timings need V; a Q/K-only input sweeps without them unless they were asked for.
        if qk.v == nil && measure == "0.5,0.9,0.99" { measureAt = [] }
        let progress = StderrProgress(label: "sweep")
        defer { progress.finish() }
        guard let map = try PooledMap.compute(qk, block: block, progress: { progress.report($0, $1, $2) },
                                              isCancelled: { false }) else { preconditionFailure("uncancellable") }
        // Kernel runs the sweep makes (ThresholdSweep.init): the true mass once, dense
        // --repeat times, sparse at every threshold for --error and --repeat times at each
        // measured one; each polls once per query block of every head, and once at its end.
        let hasV = qk.v != nil
        let runs = (recall ? 1 : 0) + (hasV && (error || !measureAt.isEmpty) ? `repeat` : 0)
            + (hasV && error ? points.count : 0) + (hasV ? measureAt.count * `repeat` : 0)
        let ticks = KernelTicks(progress: progress, label: qk.headIndices.count == 1 ? "head \(qk.headIndices[0])" : "heads \(HeadSelection(qk.headIndices))",
                                perRun: map.heads * map.n + 1, runs: runs)
        try sampling.noteExact(blocks: map.n)
        let sweep = try ThresholdSweep(map: map, sta: sta, thresholds: points, input: qk, recall: recall, error: error,
                                       measureAt: measureAt, repeats: `repeat`, recallSample: try sampling.request,
                                       isCancelled: ticks.tick)
        progress.finish()
        print(json ? sweep.json(inputName: qk.name, blocks: map.blocks, headIndices: qk.headIndices).rendered() : sweep.text(inputName: qk.name, blocks: map.blocks))
    }
}
