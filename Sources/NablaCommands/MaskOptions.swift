import ArgumentParser
import NablaCore

/// `--block`, `--threshold` and `--sta`: the mask settings `view`, `render`, `mask` and
/// `bench` share, parsed and checked in one place.
struct MaskOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Block shape BTxBHxBW (default 1x8x8).", valueName: "BTxBHxBW"), transform: Parse.block)
    var block: BlockShape = .nabla

    /// `nil` when not given: `mask` requires it, the other commands start at `defaultThreshold`.
    /// `--thr` too: the app, the status line and mask specs all say `thr` (issue 20, item 14).
    @Option(name: [.long, .customLong("thr")], parsing: .unconditional,
            help: ArgumentHelp("Fraction of each row's pooled mass to keep, in [0, 1] (default 0.9; required by mask).",
                               valueName: "THR"))
    var threshold: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Sliding-tile window in blocks, OR-ed into the mask (e.g. 11x3x3).", valueName: "WTxWHxWW"),
            transform: Parse.window)
    var sta: STAWindow?

    static let defaultThreshold = 0.9

    func validate() throws {
        if let threshold, !(threshold.isFinite && (0...1).contains(threshold)) {
            throw ValidationError("--threshold \(threshold) is outside [0, 1]")
        }
    }

    /// Says on stderr, once, when the STA window reaches every block of an axis of the block
    /// grid (legal, and the same mask as any larger window: worth a word, issue 20 item 4).
    func noteWholeAxisWindow(grid: TokenGrid) {
        guard let sta, let blocks = try? BlockGrid(grid: grid, block: block) else { return }
        if let axes = sta.coveredAxesText(of: blocks) {
            warn("STA \(sta) covers every block in \(axes) of the \(blocks.tb)x\(blocks.hb)x\(blocks.wb) block grid")
        }
    }

    /// The threshold given, or the default.
    var thresholdOrDefault: Double { threshold ?? MaskOptions.defaultThreshold }

    /// The engine's settings: the threshold given (or the default) and the STA window.
    var settings: MaskSettings { MaskSettings(threshold: thresholdOrDefault, sta: sta) }
}
