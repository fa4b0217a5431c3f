import Foundation

/// The masks of every Q/K pair of a whole-model dump at one setting: per pair and head
/// the density and mass kept, which is where in the network and when in the denoising
/// trajectory attention is sparse.
///
/// Pairs are computed one after another, each loaded, masked and released before the
/// next (one pair's tensors and map in memory at a time).
public struct ModelReport: Sendable {
    /// One pair's result.
    public struct PairResult: Sendable, Equatable {
        public let prefix: String
        public let grid: TokenGrid
        public let blocks: BlockGrid
        public let heads: Int
        /// The tensor index of each head (`--head-select` keeps some).
        public let headIndices: [Int]
        /// Per head: kept blocks over `N^2`.
        public let density: [Double]
        /// Per head: pooled probability of the kept blocks over `N`.
        public let massKept: [Double]
        public let keptBlocks: [Int]
        public let overallDensity: Double
        /// Per head: the share of the true token-level attention mass the mask keeps,
        /// averaged over query blocks (`TrueBlockMass.recall`); `nil` unless asked for.
        public let recall: [Double]?

        init(prefix: String, report: MaskReport, recall: [Double]?) {
            let s = report.mask.statistics
            self.prefix = prefix
            grid = report.grid
            blocks = report.blocks
            heads = report.heads
            headIndices = report.headIndices
            self.recall = recall
            density = s.density
            massKept = s.massKept
            keptBlocks = s.keptBlocks
            overallDensity = s.overallDensity
        }

        /// A pair as a `model.json` recorded it (`ModelShards.merge`).
        init(prefix: String, grid: TokenGrid, blocks: BlockGrid, headIndices: [Int], density: [Double], massKept: [Double],
             keptBlocks: [Int], overallDensity: Double, recall: [Double]?) {
            self.prefix = prefix
            self.grid = grid
            self.blocks = blocks
            heads = headIndices.count
            self.headIndices = headIndices
            self.density = density
            self.massKept = massKept
            self.keptBlocks = keptBlocks
            self.overallDensity = overallDensity
            self.recall = recall
        }
    }

    /// The dump's path as given.
    public let path: String
    public let block: BlockShape
    public let settings: MaskSettings
    public let pairs: [PairResult]
    /// For one shard of a run (`mask --all --shard I/N`): which, and every pair of the
    /// dump in order (what `nabla merge` checks and orders by); `nil` for a whole run.
    public let shard: ShardSpec.Record?

    public init(path: String, block: BlockShape, settings: MaskSettings, pairs: [PairResult], shard: ShardSpec.Record? = nil) {
        self.path = path
        self.block = block
        self.settings = settings
        self.pairs = pairs
        self.shard = shard
    }

    /// Computes `pair` of `dump` with the layout of `base`; with `recall`, also the
    /// recall of each head's mask against the true attention (the attention kernels'
    /// `TrueBlockMass`, O(S^2 D) per head).
    /// - Throws: `NablaError` from loading the pair, the block shape, or the memory
    ///   estimate of the attention kernels.
    public static func compute(_ pair: ModelDump.Pair, of dump: ModelDump, base: InputSpec,
                               block: BlockShape, settings: MaskSettings, recall: Bool = false) throws -> (PairResult, MaskReport) {
        let spec = dump.spec(for: pair, base: base)
        // Masks alone need only the pooled vectors: one read-convert-pool pass.
        if !recall, let pooled = try spec.loadPooled(block: block) {
            let report = MaskReport(pooled: pooled, settings: settings)
            return (PairResult(prefix: pair.prefix, report: report, recall: nil), report)
        }
        // Masks and recall need no V and no Float copies of 16-bit Q/K.
        let input = try spec.load(halfInPlace: true, values: false)
        let report = try MaskReport(input: input, block: block, settings: settings)
        var perHead: [Double]?
        if recall, input.text != nil {
            // Joint text tokens: exact recall over all keys, text keys counted as kept.
            perHead = try JointRecall.recall(input: input, mask: report.mask)
        } else if recall {
            let mass = try AttentionOperands(input: input, blocks: report.blocks).trueBlockMass()
            let r = mass.recall(of: KeptKeyBlocks(report.mask))
            perHead = (0..<input.heads).map { r.recall(slot: $0) }
        }
        return (PairResult(prefix: pair.prefix, report: report, recall: perHead), report)
    }

    /// The summary's file name in an output folder.
    public static let summaryName = "model.json"

    /// Computes every pair of `dump` in order; with `directory`, writes each pair's
    /// outputs (`MaskReport.write`) to `directory/FOLDER/` (`ModelDump.directoryName`)
    /// as soon as it is computed, and `model.json` last, all into one stage that then
    /// replaces `directory` whole (`OutputSet.replaceTree`): a run that fails at any pair
    /// or write leaves an earlier `directory` byte for byte as it was and a new one
    /// absent, and a run that succeeds leaves only its own pairs (files the user put
    /// there are kept). Folder names are checked before the first pair is computed.
    /// - Parameter each: called after each pair, with its index.
    /// - Throws: `NablaError` naming the pair whose input or output failed, two pairs
    ///   whose folders would clash, or a folder name too long for the file system.
    /// - Parameter shard: compute only this shard's pairs (`ShardSpec.pairs(of:)`), and
    ///   record it in `model.json`.
    public static func compute(dump: ModelDump, base: InputSpec, block: BlockShape, settings: MaskSettings,
                               recall: Bool = false, directory: String?, shard: ShardSpec? = nil,
                               each: (Int, PairResult) -> Void = { _, _ in }) throws -> ModelReport {
        var results: [PairResult] = []
        let chosen = shard.map { $0.pairs(of: dump) } ?? Array(dump.pairs.indices)
        let record = shard.map { ShardSpec.Record(index: $0.index, count: $0.count, pairs: dump.pairs.map(\.prefix)) }
        func run(_ write: ((Int, MaskReport) throws -> Void)?) throws {
            for i in chosen {
                let pair = dump.pairs[i]
                let (result, report) = try compute(pair, of: dump, base: base, block: block, settings: settings, recall: recall)
                try write?(i, report)
                results.append(result)
                each(i, result)
            }
        }
        guard let directory else {
            try run(nil)
            return ModelReport(path: dump.path, block: block, settings: settings, pairs: results, shard: record)
        }
        var folders: [String] = []
        try OutputSet.replaceTree(directory: directory, oldMembers: Self.members(ofEarlierOutput:), check: { parent in
            folders = try dump.folderNames(in: directory, nameMax: OutputPath.nameMax(in: parent))
        }) { stage in
            try run { i, report in
                let folder = try stage.folder(named: folders[i])
                _ = try report.write(into: folder, shownAs: OutputPath.join(directory, folders[i]))
            }
            let model = ModelReport(path: dump.path, block: block, settings: settings, pairs: results, shard: record)
            try stage.write(Array((model.json().rendered() + "\n").utf8), named: summaryName)
        }
        return ModelReport(path: dump.path, block: block, settings: settings, pairs: results, shard: record)
    }

    /// The entries of an earlier output in `directory` that a new one replaces:
    /// `model.json` and the folders it lists (none when it cannot be read).
    static func members(ofEarlierOutput directory: String) -> Set<String> {
        var names: Set<String> = [summaryName]
        guard let data = FileManager.default.contents(atPath: OutputPath.join(directory, summaryName)),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let pairs = json["pairs"] as? [[String: Any]] else { return names }
        for p in pairs {
            if let d = p["directory"] as? String, !d.isEmpty, !d.contains("/"), d != ".", d != ".." { names.insert(d) }
        }
        return names
    }

    /// Density over all pairs and heads (every pair weighs by its `heads x N^2`).
    public var overallDensity: Double {
        let total = pairs.reduce(0.0) { $0 + Double($1.heads * $1.blocks.count * $1.blocks.count) }
        let kept = pairs.reduce(0.0) { $0 + Double($1.keptBlocks.reduce(0, +)) }
        return total > 0 ? kept / total : 0
    }

    /// `model.json`: the settings, `density` over everything, and `pairs`, each with
    /// `prefix`, `directory`, `grid`, `n`, `density` and `heads` (objects with `head`,
    /// `density`, `mass_kept`, `kept_blocks`, `recall`: `null` unless computed).
    public func json() -> JSON {
        let triple = JSON.triple
        return .object([
            ("input", .string(path)),
            ("block", triple(block.bt, block.bh, block.bw)),
            ("threshold", .number(settings.threshold)),
            ("sta", settings.sta.map { triple($0.wt, $0.wh, $0.ww) } ?? .null),
            ("density", .number(overallDensity)),
        ] + (shard.map { s in [("shard", JSON.object([("index", .int(s.index)), ("count", .int(s.count)),
                                                      ("pairs", .array(s.pairs.map { .string($0) }))]))] } ?? []) + [
            ("pairs", .array(pairs.map { p in
                .object([
                    ("prefix", .string(p.prefix)),
                    ("directory", .string(ModelDump.directoryName(p.prefix))),
                    ("grid", triple(p.grid.t, p.grid.h, p.grid.w)),
                    ("n", .int(p.blocks.count)),
                    ("density", .number(p.overallDensity)),
                    ("heads", .array((0..<p.heads).map { h in
                        .object([("head", .int(p.headIndices[h])), ("density", .number(p.density[h])),
                                 ("mass_kept", .number(p.massKept[h])), ("kept_blocks", .int(p.keptBlocks[h])),
                                 ("recall", p.recall.map { .number($0[h]) } ?? .null)])
                    })),
                ])
            })),
        ])
    }

    /// A readable table: one row per pair, its overall density and each head's.
    public func text() -> String {
        let width = max(4, pairs.map { $0.prefix.count }.max() ?? 4)
        let maxHeads = pairs.map(\.heads).max() ?? 0
        var lines = ["input      \(Shown.path(path)) (\(pairs.count) Q/K pairs)",
                     "settings   block \(block), thr \(fixed(settings.threshold, 2)), STA \(settings.sta.map(\.description) ?? "off")",
                     ""]
        let headNames = pairs.first { $0.heads == maxHeads }?.headIndices ?? Array(0..<maxHeads)
        func table(_ title: String, _ values: (PairResult) -> [Double]?, all: (PairResult) -> Double?) {
            lines.append(title.padding(toLength: width, withPad: " ", startingAt: 0) + "     all  "
                         + headNames.map { pad("h\($0)", 6) }.joined(separator: " "))
            for p in pairs {
                guard let v = values(p) else { continue }
                lines.append(TensorIO.shown(ModelDump.name(ofPrefix: p.prefix)).padding(toLength: width, withPad: " ", startingAt: 0)
                             + "  " + pad(all(p).map(percent) ?? "", 6) + "  "
                             + v.map { pad(percent($0), 6) }.joined(separator: " "))
            }
        }
        table("pair", { $0.density }, all: { $0.overallDensity })
        if pairs.contains(where: { $0.recall != nil }) {
            lines.append("")
            table("recall", { $0.recall }, all: { p in p.recall.map { $0.reduce(0, +) / Double(max($0.count, 1)) } })
        }
        lines.append("")
        lines.append("density    \(percent(overallDensity)) over all pairs and heads")
        return lines.joined(separator: "\n")
    }
}
