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
        With --all, the input is a whole-model dump (a file or folder holding PREFIX.q and \
        PREFIX.k for several pairs): every pair is computed in turn, its files written to \
        --out/PREFIX/ (PREFIX escaped one to one: a/b as a%2Fb), and model.json sums them up per \
        pair and head; the whole --out is replaced at once, or left as it was when the run fails.
        """
    )

    @OptionGroup var input: InputOptions

    @OptionGroup var mask: MaskOptions

    @Option(parsing: .unconditional, help: "Directory for the output files (created if missing).")
    var out: String?

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    @Flag(help: "Compute every Q/K pair (PREFIX.q, PREFIX.k) of a whole-model dump, one at a time; with --out, write --out/PREFIX/ and --out/model.json.")
    var all = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --all: compute only the I-th of N shares of the pairs (balanced by size), for a job array; nabla merge combines the outputs.", valueName: "I/N"),
            transform: { try ShardSpec(parsing: $0) })
    var shard: ShardSpec?

    @Flag(help: "With --all: also each head's recall, the share of the true attention mass its mask keeps (dense scores, O(S^2 D) per head).")
    var recall = false

    func validate() throws {
        guard mask.threshold != nil else { throw ValidationError("Missing expected argument '--threshold <THR>'") }
        if recall && !all { throw ValidationError("--recall goes with --all (nabla attend reports one pair's recall)") }
        if shard != nil && !all { throw ValidationError("--shard goes with --all (it shares out the pairs of a whole-model dump)") }
    }

    func run() throws {
        if all { return try runAll() }
        let spec = try input.spec(orderBlock: mask.block)
        try spec.checkMemory(block: mask.block, use: .maskFiles, halfInPlace: true)
        let qk = try spec.load(halfInPlace: true)
        noteEdge(qk, block: mask.block, given: input.edge, reported: true)
        try MaskMemory.check(input: qk, block: mask.block, use: .maskFiles)
        mask.noteWholeAxisWindow(grid: qk.grid)
        let progress = StderrProgress(label: "mask")
        defer { progress.finish() }
        let report = try MaskReport(input: qk, block: mask.block, settings: mask.settings,
                                    keepMap: false, progress: progress.report)
        var written: [String] = []
        if let out {
            progress.report("write", 0, 1)
            written = try report.write(to: out)
        }
        progress.finish()
        if json {
            print(report.json(outputs: written).rendered())
        } else {
            print(report.text())
            if let out { print("wrote      \(written.joined(separator: ", ")) to \(Shown.path(out))") }
        }
    }

    /// `--all`: every pair of the dump named by the one input.
    private func runAll() throws {
        let spec = try input.spec(orderBlock: mask.block)
        let path: String
        switch spec.source {
        case .file(let p): path = p
        case .latent(let src) where src.key == nil && input.latent == nil: path = src.path
        default:
            throw ValidationError("--all takes one whole-model dump (a file or folder holding PREFIX.q and PREFIX.k), not \(input.inputs.joined(separator: " "))")
        }
        let dump = try ModelDump(path: path, axes: spec.layout.axes)
        for line in dump.unpaired { warn(line) }
        guard !dump.pairs.isEmpty else {
            throw NablaError(.missingTensor, "\(path) holds no Q/K pair (tensors PREFIX.q and PREFIX.k, or q and k)")
        }
        let settings = mask.settings
        // Progress as for one pair: on a terminal only, after the first second.
        let progress = StderrProgress(label: "mask --all")
        let report = try ModelReport.compute(dump: dump, base: spec, block: mask.block, settings: settings,
                                             recall: recall, directory: out, shard: shard) { i, pair in
            progress.show("pair \(i + 1) of \(dump.pairs.count) done (\(Shown.path(ModelDump.name(ofPrefix: pair.prefix))): density \(percent(pair.overallDensity)))")
        }
        progress.finish()
        if json {
            print(report.json().rendered())
        } else {
            print(report.text())
            if let out {
                print("wrote      \(report.pairs.count) pair folders and model.json to \(Shown.path(out))"
                      + (shard.map { " (shard \($0) of the \(dump.pairs.count) pairs; nabla merge combines the shards)" } ?? ""))
            }
        }
    }
}

/// Progress of long work on stderr, only when stderr is a terminal and the work has run
/// for more than a second: one line, rewritten in place (`mask: map, head 3 of 8`) and
/// erased at the end, so logs and pipes see nothing.
final class StderrProgress: @unchecked Sendable {
    private let label: String
    private let start = ContinuousClock.now
    private let enabled = isatty(STDERR_FILENO) == 1
    private var shown = false
    private let lock = NSLock()

    init(label: String) { self.label = label }

    var report: MaskReport.Progress {
        { [self] stage, done, total in show(stage, done, total) }
    }

    private func show(_ stage: String, _ done: Int, _ total: Int) {
        show(total > 1 ? "\(stage), head \(done + 1) of \(total)" : stage)
    }

    /// Shows `what` after the label (when enabled and past the first second).
    func show(_ what: String) {
        guard enabled, ContinuousClock.now - start > .seconds(1) else { return }
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(label): \(what)".utf8))
        shown = true
    }

    /// Erases the progress line, if one was shown.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }
}
