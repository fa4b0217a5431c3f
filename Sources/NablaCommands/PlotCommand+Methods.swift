import Foundation
import NablaCore
import NablaTUI

extension PlotCommand {
    /// The methods view: every method's recall against density (`MethodSweep`), for
    /// `--head` when given, else all heads averaged; NABLA's cut at the current settings
    /// is marked.
    func methodsFigure(_ qk: QKInput, map: PooledMap, settings: MaskSettings) throws -> Figure {
        let context = try MethodContext(input: qk, blocks: map.blocks, map: map)
        let sweep = try MethodSweep(context: context, methods: SparseMethods.all)
        let slot = try head.map { head in
            guard let h = qk.headIndices.firstIndex(of: head) else {
                throw NablaError(.badArgument, "--" + HeadSelection.missing(head, headIndices: qk.headIndices))
            }
            return h
        }
        var marks: [(density: Double, recall: Double, label: String)] = []
        if let kept = try NablaMethod(settings).kept(context), let mass = try context.trueMass() {
            let recall = mass.recall(of: KeptKeyBlocks(kept: kept, heads: qk.heads, n: map.n))
            let density = MethodSweep.density(kept, heads: qk.heads, n: map.n)
            let heads = slot.map { [$0] } ?? Array(0..<qk.heads)
            marks.append((heads.reduce(0) { $0 + density[$1] } / Double(heads.count),
                          heads.reduce(0) { $0 + recall.recall(slot: $1) } / Double(heads.count), "nabla \(settings)"))
        }
        return Figures.methods(sweep, head: slot, title: "methods · \(slot.map { "head \(qk.headIndices[$0])" } ?? "all heads") · \(qk.name) · block \(map.blocks.block)",
                               marks: marks)
    }
}
