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
        against the full computation, and the arithmetic rate of the map stage. Build with -c release.
        """
    )

    @OptionGroup var input: InputOptions

    @Option(help: ArgumentHelp("Block shape BTxBHxBW (default 1x8x8).", valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    @Option(help: "Fraction of each row's pooled mass to keep, in [0, 1].")
    var threshold: Double = 0.9

    @Option(help: ArgumentHelp("Sliding-tile window in blocks (e.g. 11x3x3).", valueName: "WTxWHxWW"), transform: Parse.window)
    var sta: STAWindow?

    @Option(help: "Measured runs (after one warm-up run).")
    var `repeat`: Int = 5

    @Flag(help: "Print one JSON object instead of the readable report.")
    var json = false

    func validate() throws {
        guard threshold.isFinite, (0...1).contains(threshold) else {
            throw ValidationError("--threshold \(threshold) is outside [0, 1]")
        }
        guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat \(`repeat`) is outside 1...1000") }
    }

    func run() throws {
        let qk = try input.spec(orderBlock: block).load(halfInPlace: true)
        let bench = try EngineBenchmark(input: qk, block: block, settings: MaskSettings(threshold: threshold, sta: sta),
                                        repeats: `repeat`)
        print(json ? bench.json().rendered() : bench.text())
    }
}
