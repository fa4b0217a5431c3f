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
        With --method (sta, vsa, xattention, radial, svg, oracle) the mask is that sparse-attention \
        method's, with its own parameters (--keep, --stride, --decay-factor, --width, --samples; \
        --threshold and --sta where the method takes them); the files are the same.
        With --all, the input is a whole-model dump (a file or folder holding PREFIX.q and \
        PREFIX.k for several pairs): every pair is computed in turn, its files written to \
        --out/PREFIX/ (PREFIX escaped one to one: a/b as a%2Fb), and model.json sums them up per \
        pair and head; the whole --out is replaced at once, or left as it was when the run fails.
        """
    )

    @OptionGroup var input: InputOptions

    @OptionGroup var mask: MaskOptions

    @OptionGroup var methodOptions: MethodOptions

    @Option(parsing: .unconditional, help: "Directory for the output files (created if missing).")
    var out: String?

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    @Flag(help: "Compute every Q/K pair (PREFIX.q, PREFIX.k) of a whole-model dump, one at a time; with --out, write --out/PREFIX/ and --out/model.json.")
    var all = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --all: compute only the I-th of N shares of the pairs (balanced by size), for a job array; nabla merge combines the outputs.", valueName: "I/N"),
            transform: { try ShardSpec(parsing: $0) })
    var shard: ShardSpec?

    @Flag(help: "With --all: also each head's recall, the share of the true attention mass its mask keeps (dense scores, O(S^2 D) per head; --sample estimates it).")
    var recall = false

    @OptionGroup var sampling: SampleOptions

    func validate() throws {
        guard mask.threshold != nil || methodOptions.isOtherMethod else { throw ValidationError("Missing expected argument '--threshold <THR>'") }
        if methodOptions.isOtherMethod && all { throw ValidationError("--method \(methodOptions.method ?? "") goes without --all (one pair at a time)") }
        if recall && !all { throw ValidationError("--recall goes with --all (nabla attend reports one pair's recall)") }
        try sampling.validate(recall: recall)
        if shard != nil && !all { throw ValidationError("--shard goes with --all (it shares out the pairs of a whole-model dump)") }
    }

    func run() throws {
        let method = try methodOptions.make(mask: mask)
        if all { return try runAll() }
        let spec = try input.spec(orderBlock: mask.block)
        // Masks need neither V nor Float copies of 16-bit Q/K (other methods may read V).
        let values = method.map { !($0 is NablaMethod) } ?? false
        // The one-pass pooling holds pooled blocks and a slab per core, never Q/K whole: its
        // check counts only those; an input it cannot read is checked as it is loaded.
        if method.map({ $0 is NablaMethod }) ?? true, try spec.checkPooledMemory(block: mask.block, use: .maskFiles),
           let pooled = try spec.loadPooled(block: mask.block) {
            // One read-convert-pool pass: the token-level tensors are never held.
            noteEdge(grid: pooled.grid, edge: pooled.edge, block: mask.block, given: input.edge, reported: true)
            try MaskMemory.check(pooled: pooled, use: .maskFiles)
            mask.noteWholeAxisWindow(grid: pooled.grid)
            let progress = StderrProgress(label: "mask")
            defer { progress.finish() }
            return try finish(MaskReport(pooled: pooled, settings: mask.settings, progress: progress.report), progress: progress)
        }
        try spec.checkMemory(block: mask.block, use: .maskFiles, halfInPlace: true, values: values)
        var qk: QKInput? = try spec.load(halfInPlace: true, values: values)
        noteEdge(qk!, block: mask.block, given: input.edge, reported: true)
        try MaskMemory.check(input: qk!, block: mask.block, use: .maskFiles)
        mask.noteWholeAxisWindow(grid: qk!.grid)
        let progress = StderrProgress(label: "mask")
        defer { progress.finish() }
        let report: MaskReport
        if let other = method.flatMap({ $0 is NablaMethod ? nil : $0 }) {
            // Other methods may need token-level Q/K (and V); they keep the input.
            let input = qk!
            report = try MaskReport(method: other, context: try MethodContext(input: input, blocks: input.blockGrid(mask.block)),
                                    progress: progress.report)
        } else {
            // The report takes the input and frees it once pooled (the maps and mask need only the pooled vectors).
            report = try MaskReport(releasing: &qk, block: mask.block, settings: mask.settings, progress: progress.report)
        }
        try finish(report, progress: progress)
    }

    /// Writes `report` with `--out` and prints it.
    private func finish(_ report: MaskReport, progress: StderrProgress) throws {
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
        // Pairs done of this run's (a shard's share, or every pair).
        let total = shard.map { $0.pairs(of: dump).count } ?? dump.pairs.count
        var finished = 0
        let how: ModelReport.Recall? = recall ? try sampling.request.map { .sampled($0) } ?? .exact : nil
        var exactUnderSample: [String] = []
        let report = try ModelReport.compute(dump: dump, base: spec, block: mask.block, settings: settings,
                                             recall: how, directory: out, shard: shard, each: { i, pair in
            finished += 1
            if case .sampled? = how, pair.sampledBlocks == nil { exactUnderSample.append(ModelDump.name(ofPrefix: pair.prefix)) }
            progress.update(stage: "pairs", detail: "\(finished) of \(total) done (last pair \(i), \(Shown.path(ModelDump.name(ofPrefix: pair.prefix))): density \(percent(pair.overallDensity)))",
                            done: finished, total: total)
        }, recallProgress: { i, done, heads in
            progress.update(stage: "pairs", detail: "pair \(finished + 1) of \(total) (\(Shown.path(ModelDump.name(ofPrefix: dump.pairs[i].prefix)))): recall, \(done) of \(heads) heads done",
                            done: finished, total: total)
        })
        progress.finish()
        if !exactUnderSample.isEmpty, let sample = sampling.sample {
            // Said once for the run: the pairs whose every query block the sample took.
            let which = "\(exactUnderSample.count) of \(report.pairs.count) pairs (\(Shown.path(exactUnderSample[0]))\(exactUnderSample.count > 1 ? ", ..." : ""))"
            warn(sample == "auto" ? "--sample auto took every query block of \(which) before its intervals were narrow enough: their recall is exact"
                 : "--sample \(sample) covers every query block of \(which): their recall is exact")
        }
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
