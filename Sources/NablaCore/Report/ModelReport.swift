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
        /// Per head: the 95% interval of an estimated `recall`; `nil` when exact.
        public let recallCI95: [ClosedRange<Double>]?
        /// Query blocks per head an estimated `recall` rests on; `nil` when exact.
        public let sampledBlocks: Int?

        init(prefix: String, report: MaskReport, recall: RecallFigures?) {
            let s = report.mask.statistics
            self.prefix = prefix
            grid = report.grid
            blocks = report.blocks
            heads = report.heads
            headIndices = report.headIndices
            self.recall = recall?.values
            sampledBlocks = recall?.sampled
            recallCI95 = sampledBlocks == nil ? nil : recall?.perHead.map { $0.ci95 ?? ($0.value...$0.value) }
            density = s.density
            massKept = s.massKept
            keptBlocks = s.keptBlocks
            overallDensity = s.overallDensity
        }

        /// A pair as a `model.json` recorded it (`ModelShards.merge`).
        init(prefix: String, grid: TokenGrid, blocks: BlockGrid, headIndices: [Int], density: [Double], massKept: [Double],
             keptBlocks: [Int], overallDensity: Double, recall: [Double]?, recallCI95: [ClosedRange<Double>]?, sampledBlocks: Int?) {
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
            self.recallCI95 = recallCI95
            self.sampledBlocks = sampledBlocks
        }
    }

    /// How each pair's recall is found: exact, from the true block mass of every query
    /// block, or estimated from a sample of them (`mask --all --recall --sample`).
    public enum Recall: Sendable, Equatable {
        case exact
        case sampled(RecallSource.Request)
    }

    /// The dump's path as given.
    public let path: String
    public let block: BlockShape
    public let settings: MaskSettings
    public let pairs: [PairResult]
    /// How the pairs' recall was found; `nil` when it was not.
    public let recall: Recall?
    /// For one shard of a run (`mask --all --shard I/N`): which, and every pair of the
    /// dump in order (what `nabla merge` checks and orders by); `nil` for a whole run.
    public let shard: ShardSpec.Record?

    public init(path: String, block: BlockShape, settings: MaskSettings, pairs: [PairResult], recall: Recall? = nil,
                shard: ShardSpec.Record? = nil) {
        self.path = path
        self.block = block
        self.settings = settings
        self.pairs = pairs
        self.recall = recall
        self.shard = shard
    }

    /// Computes `pair` of `dump` with the layout of `base`; with `recall`, also the
    /// recall of each head's mask against the true attention (`recall(of:input:blocks:how:)`).
    /// - Throws: `NablaError` from loading the pair, the block shape, the memory estimate
    ///   of the attention kernels, or a sampled recall on joint text tokens.
    public static func compute(_ pair: ModelDump.Pair, of dump: ModelDump, base: InputSpec,
                               block: BlockShape, settings: MaskSettings, recall: Recall? = nil,
                               progress: (_ doneHeads: Int, _ heads: Int) -> Void = { _, _ in }) throws -> (PairResult, MaskReport) {
        let spec = dump.spec(for: pair, base: base)
        // Masks alone need only the pooled vectors: one read-convert-pool pass.
        if recall == nil, let pooled = try spec.loadPooled(block: block) {
            let report = MaskReport(pooled: pooled, settings: settings)
            return (PairResult(prefix: pair.prefix, report: report, recall: nil), report)
        }
        // Masks and recall need no V and no Float copies of 16-bit Q/K.
        let input = try spec.load(halfInPlace: true, values: false)
        let report = try MaskReport(input: input, block: block, settings: settings)
        let figures = try recall.flatMap { try Self.recall(of: report.mask, input: input, blocks: report.blocks, how: $0, progress: progress) }
        return (PairResult(prefix: pair.prefix, report: report, recall: figures), report)
    }

    /// The recall of `mask` (every head of `input`) against the true attention, per head:
    /// exact (`TrueBlockMass.recall`, one head's kernels at a time; with joint text tokens
    /// `JointRecall`, text keys counted as kept) or estimated from a stratified sample of
    /// query blocks (`SampledBlockMass`, `.auto` sampling until every head's interval is
    /// within its half-width, or with `overall` the mean over heads'). Shared by
    /// `mask --all --recall` and the app's model view.
    /// Returns `nil` when `isCancelled` turned true.
    /// - Throws: `NablaError.tooLarge` when a head's kernels do not fit in memory;
    ///   `.badArgument` for an estimate on joint text tokens.
    /// - Complexity: `2 D S^2` flops per head exact; `2 D B S` per sampled block and head.
    public static func recall(of mask: BlockMask, input: QKInput, blocks: BlockGrid, how: Recall, overall: Bool = false,
                              isCancelled: () -> Bool = { false },
                              progress: (_ doneHeads: Int, _ heads: Int) -> Void = { _, _ in }) throws -> RecallFigures? {
        let kept = KeptKeyBlocks(mask)
        switch how {
        case .sampled(let request):
            do {
                return try RecallSource.sample(request, input: input, blocks: blocks, autoMasks: [kept], overall: overall,
                                               isCancelled: isCancelled, progress: progress).recall(of: kept)
            } catch is CancellationError {
                return nil
            }
        case .exact where input.text != nil:
            if isCancelled() { return nil }
            let values = try JointRecall.recall(input: input, mask: mask)
            return RecallFigures(exact: values, total: blocks.count)
        case .exact:
            var values: [Double] = []
            for h in 0..<input.heads {
                if isCancelled() { return nil }
                let mass = try AttentionOperands(input: input, blocks: blocks, heads: [h]).trueBlockMass()
                values.append(mass.recall(of: kept).recall(slot: 0))
                progress(h + 1, input.heads)
            }
            return RecallFigures(exact: values, total: blocks.count)
        }
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
    /// - Parameter recallProgress: called as a pair's recall goes (pair index, heads done,
    ///   heads).
    /// - Throws: `NablaError` naming the pair whose input or output failed, two pairs
    ///   whose folders would clash, or a folder name too long for the file system.
    /// - Parameter shard: compute only this shard's pairs (`ShardSpec.pairs(of:)`), and
    ///   record it in `model.json`.
    public static func compute(dump: ModelDump, base: InputSpec, block: BlockShape, settings: MaskSettings,
                               recall: Recall? = nil, directory: String?, shard: ShardSpec? = nil,
                               each: (Int, PairResult) -> Void = { _, _ in },
                               recallProgress: (Int, Int, Int) -> Void = { _, _, _ in }) throws -> ModelReport {
        var results: [PairResult] = []
        let chosen = shard.map { $0.pairs(of: dump) } ?? Array(dump.pairs.indices)
        let record = shard.map { ShardSpec.Record(index: $0.index, count: $0.count, pairs: dump.pairs.map(\.prefix)) }
        func run(_ write: ((Int, MaskReport) throws -> Void)?) throws {
            for i in chosen {
                let pair = dump.pairs[i]
                let (result, report) = try compute(pair, of: dump, base: base, block: block, settings: settings, recall: recall) {
                    recallProgress(i, $0, $1)
                }
                try write?(i, report)
                results.append(result)
                each(i, result)
            }
        }
        guard let directory else {
            try run(nil)
            return ModelReport(path: dump.path, block: block, settings: settings, pairs: results, recall: recall, shard: record)
        }
        var folders: [String] = []
        try OutputSet.replaceTree(directory: directory, oldMembers: Self.members(ofEarlierOutput:), check: { parent in
            folders = try dump.folderNames(in: directory, nameMax: OutputPath.nameMax(in: parent))
        }) { stage in
            try run { i, report in
                let folder = try stage.folder(named: folders[i])
                _ = try report.write(into: folder, shownAs: OutputPath.join(directory, folders[i]))
            }
            let model = ModelReport(path: dump.path, block: block, settings: settings, pairs: results, recall: recall, shard: record)
            try stage.write(Array((model.json().rendered() + "\n").utf8), named: summaryName)
        }
        return ModelReport(path: dump.path, block: block, settings: settings, pairs: results, recall: recall, shard: record)
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
        let head: [(String, JSON)] = [
            ("input", .string(path)),
            ("block", triple(block.bt, block.bh, block.bw)),
            ("threshold", .number(settings.threshold)),
            ("sta", settings.sta.map { triple($0.wt, $0.wh, $0.ww) } ?? .null),
            ("density", .number(overallDensity)),
        ]
        var shardField: [(String, JSON)] = []
        if let s = shard {
            shardField = [("shard", .object([("index", .int(s.index)), ("count", .int(s.count)),
                                             ("pairs", .array(s.pairs.map { .string($0) }))]))]
        }
        return .object(head + sampleFields + shardField + [("pairs", .array(pairs.map(Self.json(pair:))))])
    }

    /// One pair of `model.json`; `sampled_blocks` and each head's `recall_ci95` for an
    /// estimated recall.
    private static func json(pair p: PairResult) -> JSON {
        var fields: [(String, JSON)] = [
            ("prefix", .string(p.prefix)),
            ("directory", .string(ModelDump.directoryName(p.prefix))),
            ("grid", JSON.triple(p.grid.t, p.grid.h, p.grid.w)),
            ("n", .int(p.blocks.count)),
            ("density", .number(p.overallDensity)),
        ]
        if let k = p.sampledBlocks { fields.append(("sampled_blocks", .int(k))) }
        let heads: [JSON] = (0..<p.heads).map { h in
            var head: [(String, JSON)] = [("head", .int(p.headIndices[h])), ("density", .number(p.density[h])),
                                          ("mass_kept", .number(p.massKept[h])), ("kept_blocks", .int(p.keptBlocks[h])),
                                          ("recall", p.recall.map { .number($0[h]) } ?? .null)]
            if let ci = p.recallCI95?[h] { head.append(("recall_ci95", .array([.number(ci.lowerBound), .number(ci.upperBound)]))) }
            return .object(head)
        }
        fields.append(("heads", .array(heads)))
        return .object(fields)
    }

    /// `recall_sample` for an estimated recall: `{"blocks": N}` or `{"auto": half-width}`
    /// and `seed`; nothing for an exact one or none (what `nabla merge` compares).
    private var sampleFields: [(String, JSON)] {
        guard case .sampled(let request)? = recall else { return [] }
        let size: (String, JSON)
        switch request.size {
        case .blocks(let k): size = ("blocks", .int(k))
        case .auto(let w): size = ("auto", .number(w))
        }
        return [("recall_sample", .object([size, ("seed", .int(Int(truncatingIfNeeded: request.seed)))]))]
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
            let estimated = pairs.filter { $0.sampledBlocks != nil }
            table(estimated.isEmpty ? "recall" : "recall ~", { $0.recall }, all: { p in p.recall.map { $0.reduce(0, +) / Double(max($0.count, 1)) } })
            if !estimated.isEmpty {
                // The widest interval of any head, in percentage points as the table.
                let widest = estimated.flatMap { $0.recallCI95 ?? [] }.map { ($0.upperBound - $0.lowerBound) / 2 }.max() ?? 0
                let blocks = Set(estimated.map { "\($0.sampledBlocks ?? 0) of \($0.blocks.count)" }).sorted().joined(separator: ", ")
                lines.append("~ recall estimated from \(blocks) query blocks per head"
                             + (estimated.count < pairs.count ? " in \(estimated.count) of \(pairs.count) pairs (the others exact)" : "")
                             + ", 95% intervals within +-\(fixed(widest * 100, 1)) points (--json gives each)")
            }
        }
        lines.append("")
        lines.append("density    \(percent(overallDensity)) over all pairs and heads")
        return lines.joined(separator: "\n")
    }
}
