import ArgumentParser
import Foundation
import NablaCore

struct MaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mask",
        abstract: "Compute NABLA block masks (and FlexAttention BlockMask rows) and write them as .npy files.",
        discussion: """
        Writes to --out: mask.npy (uint8 [heads, N, N], blocks raster over the block grid), \
        kv_num_blocks.npy (int32 [heads, N]), kv_indices.npy (int32 [heads, N, N]), \
        frame_coverage.npy (float32 [heads, Tb, Tb]) and summary.json.
        """
    )

    @OptionGroup var input: InputOptions

    @Option(help: ArgumentHelp("Block shape BTxBHxBW (default 1x8x8).", valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    @Option(help: "Fraction of each row's pooled mass to keep, in [0, 1].")
    var threshold: Double

    @Option(help: ArgumentHelp("Sliding-tile window in blocks, OR-ed into the mask (e.g. 11x3x3).", valueName: "WTxWHxWW"),
            transform: Parse.window)
    var sta: STAWindow?

    @Option(help: "Directory for the output files (created if missing).")
    var out: String?

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    func validate() throws {
        guard threshold.isFinite, (0...1).contains(threshold) else {
            throw ValidationError("--threshold \(threshold) is outside [0, 1]")
        }
    }

    func run() throws {
        let qk = try input.spec(orderBlock: block).load(halfInPlace: true)
        let report = try MaskReport(input: qk, block: block, settings: MaskSettings(threshold: threshold, sta: sta))
        var written: [String] = []
        if let out { written = try report.write(to: out) }
        if json {
            print(report.json(outputs: written).rendered())
        } else {
            print(report.text())
            if let out { print("wrote      \(written.joined(separator: ", ")) to \(out)") }
        }
    }
}
