import ArgumentParser
import Foundation
import NablaCore

struct AttendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attend",
        abstract: "Run block-sparse attention under a NABLA mask (or a given one), and report its time, error and recall.",
        discussion: """
        The mask is computed as 'nabla mask' does (--threshold, --block, --sta), or read with --mask \
        (uint8 [heads, N, N], blocks raster over the block grid). Writes to --out: out.npy (float32, \
        the same shape and token order as Q; a batch axis becomes 1) and with --dense out_dense.npy. \
        --dense also reports the relative L2 error of the sparse output against dense attention; \
        --recall the share of the true softmax mass in the kept blocks, and the oracle (the best any \
        mask with as many blocks per row could keep). Without V only --recall is possible. Times are \
        medians over --repeat runs of the kernels alone (no file I/O). Build with -c release.

        --recall --sample N|auto estimates recall (and with --dense the error, without the full \
        dense run) from N query blocks per head sampled uniformly at random within each frame \
        slab, with 95% intervals; auto samples until every head's recall interval is within \
        +-0.005. With --sample the full block-sparse run (and its time) is made only for --out. On a terminal, progress shows on stderr; Ctrl-C leaves no partial output.

        With joint text tokens (--text-tokens N[@start|@end], or a capture's text_tokens) the text \
        runs as extra blocks of B tokens in sequence order, every text query row and text key column \
        kept (dense); the video-to-video blocks follow the mask. --mask is then the joint \
        [heads, Nt_blocks + N, Nt_blocks + N] mask 'nabla mask' writes. out.npy holds the text rows \
        where Q holds them; recall is the mean over every query token, text and video, the mass on \
        text keys counted as kept; --sample strata are the frame slabs and the text blocks.
        """
    )

    @OptionGroup var input: InputOptions

    @OptionGroup var maskOptions: MaskOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("A mask to use instead of computing one: uint8 [heads, N, N] .npy.", valueName: "MASK.npy"))
    var mask: String?

    @Option(parsing: .unconditional, help: "Directory for out.npy (and out_dense.npy), created if missing.")
    var out: String?

    @Flag(help: "Also run dense attention: out_dense.npy and the relative L2 error.")
    var dense = false

    @Flag(help: "Report recall and oracle recall from the true block mass (needs no V).")
    var recall = false

    @Option(parsing: .unconditional, help: "Runs of each kernel; medians are reported.")
    var `repeat`: Int = 1

    @OptionGroup var sampling: SampleOptions

    @Flag(help: "Print one JSON object instead of the readable summary.")
    var json = false

    func validate() throws {
        if mask != nil && (maskOptions.threshold != nil || maskOptions.sta != nil) {
            throw ValidationError("--mask gives the mask; --threshold and --sta apply only to a computed one")
        }
        if mask == nil && maskOptions.threshold == nil {
            throw ValidationError("give --threshold to compute a mask, or --mask MASK.npy")
        }
        guard (1...1000).contains(`repeat`) else { throw ValidationError("--repeat \(`repeat`) is outside 1...1000") }
        try sampling.validate(recall: recall)
        if sampling.sample != nil && dense && out != nil {
            throw ValidationError("--sample --dense estimates the error without the full dense run, so there is no out_dense.npy for --out: drop --sample or --out")
        }
    }

    func run() throws {
        let spec = try input.spec(orderBlock: maskOptions.block)
        var (qk, qLayout, qShape) = try load(spec)
        // Recall estimated from a sample needs Q and K only: V is not packed (at full size
        // it is a third of the operands' memory).
        if sampling.sample != nil && !dense && out == nil && qk.text == nil { qk.v = nil }
        if qk.v == nil && !recall && sampling.sample == nil {
            throw NablaError(.badArgument, "\(qk.name) holds Q and K but no V: attention needs V (give Q K V); without V only --recall (recall and oracle) can be computed")
        }
        if qk.v == nil && (dense || out != nil) {
            throw NablaError(.badArgument, "\(qk.name) holds Q and K but no V: \(dense ? "--dense" : "--out") needs V; without V only --recall is possible")
        }
        let blocks = try qk.blockGrid(maskOptions.block)
        // Joint text tokens (issue 18, item 2): the kernels run the text as extra blocks,
        // text rows and columns kept; the outputs hold the text rows where the text sits.
        let joint = qk.text.map { JointSequence(video: blocks, text: $0.tokens) }
        noteEdge(qk, block: maskOptions.block, given: input.edge, reported: true)
        let progress = StderrProgress(label: "attend")
        defer { progress.finish() }
        let kept: KeptKeyBlocks
        let source: String
        if let mask {
            kept = try joint.map { try MaskFile.read(mask, heads: qk.heads, joint: $0) }
                ?? readMask(mask, heads: qk.heads, blocks: blocks)
            source = mask
        } else {
            let settings = maskOptions.settings
            guard let map = try PooledMap.compute(qk, block: maskOptions.block, progress: { progress.report($0, $1, $2) },
                                                  isCancelled: { false }) else { preconditionFailure("uncancellable") }
            kept = KeptKeyBlocks(map.cut(settings))
            source = settings.description
        }
        let size = try sampling.size
        try sampling.noteExact(blocks: joint?.count ?? blocks.count, joint: joint != nil)
        // With --sample, recall (and with --dense the error) come from the sample alone, and
        // the full block-sparse run is made only for --out's out.npy: at full size it is the
        // bulk of the work (issue 19: estimates of 40 heads in a minute).
        let request = AttentionRequest(sparse: qk.v != nil && (size == nil || out != nil), dense: dense && size == nil,
                                       recall: recall && size == nil,
                                       repeats: `repeat`,
                                       sample: size.map { SampleRequest(size: $0, error: dense, seed: sampling.sampleSeed ?? 0) })
        let report = try AttentionReport(input: qk, blocks: blocks, kept: kept, maskSource: source, request: request,
                                         progress: progress.attention(heads: qk.headIndices))
        var written: [String] = []
        if let out {
            // The same words as mask --out and sample --out (not Foundation's sentences).
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw NablaError(.writeFailed, "cannot write \(out): it exists and is not a directory") }
            } else {
                do {
                    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                } catch {
                    throw NablaError(.writeFailed, "cannot write \(out): the directory cannot be created (a part of its path is a file, or not writable)")
                }
            }
            progress.update(stage: "write", detail: Shown.path(out), done: nil, total: nil)
            // The files replace the previous ones as a set (OutputSet): Ctrl-C or a failure
            // leaves the old set, never half of a new one.
            let outputs = [("out.npy", report.sparse), ("out_dense.npy", report.dense)]
            _ = try OutputSet.replace(directory: out) { stage in
                for case let (name, values?) in outputs {
                    if blocks.droppedTokens > 0 {
                        // --edge crop: the kept tokens only, [heads, S_kept, D], raster over the
                        // kept grid (with text: [heads, Nt + S_kept, D], the text where it sits).
                        try stage.write(try NPY.encode(values, shape: [qk.heads, report.operands.tokens, qk.headDim], name: name), named: name)
                    } else {
                        try stage.write(try NPY.encode(try arranged(values, like: qLayout, shape: qShape, heads: qk.heads,
                                                                    tokens: qk.grid.tokens, headDim: qk.headDim),
                                                       shape: qShape, name: name), named: name)
                    }
                    written.append(name)
                }
            }
        }
        progress.finish()
        if json {
            print(report.json(outputs: written).rendered())
        } else {
            print(report.text())
            if let out, !written.isEmpty {
                print("wrote      \(written.joined(separator: ", ")) to \(out)"
                      + (blocks.droppedTokens > 0 ? " ([\(qk.heads), \(report.operands.tokens), \(qk.headDim)], \(joint == nil ? "" : "the text where it sits, the video ")raster over the kept grid \(blocks.kept))" : ""))
            }
        }
    }

    /// The input, and the layout and shape of Q when it came from a file (the output is
    /// written in the same); `[heads, S, D]` otherwise.
    func load(_ spec: InputSpec) throws -> (QKInput, QKLayout?, [Int]) {
        if case .qk(let q, let k, let v, let layout, let vLayout, _) = try spec.plan() {
            // --head-select acts here as in every command: only those heads are computed
            // and written (named by tensor index in the report).
            // and only their bytes are read from the files (HeadRead).
            var qk = try QKInput.reading(q: q, k: k, v: v, layout: layout, vLayout: vLayout,
                                         name: spec.displayName, heads: spec.heads)
            qk.edge = spec.edge ?? .pad
            // One batch item is computed: a batch axis becomes 1; the head axis holds the heads taken.
            var shape = q.shape
            if let b = layout.axes.firstIndex(of: "b") { shape[b] = 1 }
            if let h = layout.axes.firstIndex(of: "h") { shape[h] = qk.heads }
            return (qk, layout, shape)
        }
        let qk = try spec.load()
        return (qk, nil, [qk.heads, qk.grid.tokens, qk.headDim])
    }

    /// `values` (`[heads, S, D]`, stored token order; with text `[heads, Nt + Nv, D]` in
    /// sequence order) laid out as Q is: the same axes in the same order, with a batch
    /// axis of 1, the text tokens where Q holds them.
    func arranged(_ values: [Float], like layout: QKLayout?, shape: [Int], heads: Int, tokens: Int, headDim: Int) throws -> [Float] {
        guard let layout else { return values }
        let order: OrderOption
        var orderBlock = BlockShape.nabla
        switch layout.order {
        case .raster: order = .raster
        case .block(let b): order = .block; orderBlock = b
        }
        var options = LayoutOptions(grid: layout.grid, order: order, orderBlock: orderBlock, axes: String(layout.axes))
        options.text = layout.text
        let target = try QKLayout(shape: shape, name: "out.npy", options: options)
        let textLayout = target.textLayout
        let nt = layout.text?.count ?? 0, textStart = layout.text?.textStart(video: tokens) ?? 0
        let videoStart = layout.text?.videoStart ?? 0
        var result = [Float](repeating: 0, count: values.count)
        for h in 0..<heads {
            for p in 0..<(nt + tokens) {
                let isText = p >= textStart && p < textStart + nt
                let dst = isText ? textLayout!.offset(head: h, token: p - textStart) : target.offset(head: h, token: p - videoStart)
                let src = (h * (nt + tokens) + p) * headDim
                for j in 0..<headDim { result[dst + j * target.dStride] = values[src + j] }
            }
        }
        return result
    }

    /// A uint8 (or bool) `[heads, N, N]` mask from `path`, checked against the input.
    /// - Throws: `NablaError` naming the file and what does not fit (`MaskFile.read`).
    func readMask(_ path: String, heads: Int, blocks: BlockGrid) throws -> KeptKeyBlocks {
        KeptKeyBlocks(kept: try MaskFile.read(path, heads: heads, blocks: blocks), heads: heads, blocks: blocks)
    }
}
