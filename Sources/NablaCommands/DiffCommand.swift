import ArgumentParser
import Foundation
import NablaCore

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two masks of the same input: density of each, Jaccard agreement, recall and error.",
        discussion: """
        A and B are mask specs: comma-separated key=value items. thr=0.9 (NABLA's cut), \
        thr=0.9,sta=11x3x3 (NABLA+STA), sta=11x3x3 (STA alone), topk=0.2 (the most probable \
        pooled blocks of every row, 20% of N), topk (the other mask's density, head by head), \
        dense, or a mask file MASK.npy (uint8 [heads, N, N], as nabla attend --mask takes); \
        add block=1x16x16 to any (default --block). Masks of different block shapes are \
        compared on the common token grid: the Jaccard counts (query token, key token) pairs. \
        --recall adds each mask's recall of the true attention; --error the relative L2 \
        error of its block-sparse output against dense attention (needs V).
        """
    )

    @Argument(help: ArgumentHelp("The first mask spec (e.g. thr=0.9).", valueName: "A"), transform: MaskSpec.init(parsing:))
    var a: MaskSpec

    @Argument(help: ArgumentHelp("The second mask spec (e.g. sta=11x3x3, or mask.npy).", valueName: "B"),
              transform: MaskSpec.init(parsing:))
    var b: MaskSpec

    @OptionGroup var input: InputOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Block shape of specs that name none (default 1x8x8).", valueName: "BTxBHxBW"),
            transform: Parse.block)
    var block: BlockShape = .nabla

    @Flag(help: "Also report each mask's recall of the true attention (needs no V).")
    var recall = false

    @Flag(help: "Also report each mask's relative L2 output error against dense attention (needs V).")
    var error = false

    @Flag(help: "Print one JSON object instead of the readable table.")
    var json = false

    func run() throws {
        // A spec that is a file must hold a mask; a Q or K tensor there means B was
        // forgotten and the inputs moved up by one (`nabla diff thr=0.5 q.npy k.npy`).
        for (name, spec) in [("A", a), ("B", b)] {
            guard case .file(let path) = spec.kind, let entry = try? TensorFile.open(path: path).listing.first else { continue }
            let isMask = (entry.dtype == .uint8 || entry.dtype == .bool) && entry.shape.count == 3
            if !isMask {
                let shape = "[" + entry.shape.map(String.init).joined(separator: ", ") + "]"
                throw NablaError(.badArgument, "mask spec \(name) '\(path)' is \(entry.dtypeName) \(shape), not a mask (uint8 [heads, N, N]); nabla diff A B [inputs] takes two mask specs before the inputs (e.g. nabla diff thr=0.9 sta=11x3x3 q.npy k.npy)")
            }
        }
        let qk = try input.spec(orderBlock: block).load()
        noteText(qk, block: block)
        noteEdge(qk, block: block, given: input.edge, reported: false)
        let report = try DiffReport(input: qk, a: a, b: b, block: block, recall: recall, error: error)
        print(json ? report.json().rendered() : report.text())
    }
}
