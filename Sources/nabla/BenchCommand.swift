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

    @OptionGroup var mask: MaskOptions

    @Option(help: "Measured runs (after one warm-up run).")
    var `repeat`: Int = 5

    @Flag(help: "Print one JSON object instead of the readable report.")
    var json = false

    func validate() throws {
        guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat \(`repeat`) is outside 1...1000") }
    }

    func run() throws {
        let qk = try input.spec(orderBlock: mask.block).load(halfInPlace: true)
        let bench = try EngineBenchmark(input: qk, block: mask.block, settings: mask.settings,
                                        repeats: `repeat`)
        print(json ? bench.json().rendered() : bench.text())
    }
}
