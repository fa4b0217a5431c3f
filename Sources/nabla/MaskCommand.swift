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

    @OptionGroup var mask: MaskOptions

    @Option(help: "Directory for the output files (created if missing).")
    var out: String?

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    func validate() throws {
        guard mask.threshold != nil else { throw ValidationError("Missing expected argument '--threshold <THR>'") }
    }

    func run() throws {
        let qk = try input.spec(orderBlock: mask.block).load(halfInPlace: true)
        let report = try MaskReport(input: qk, block: mask.block, settings: mask.settings)
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
