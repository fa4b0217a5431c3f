import Foundation

/// One share of a whole-model run, `I/N` (1-based, as Slurm array tasks and GNU parallel
/// number jobs once shifted): `nabla mask DIR --all --shard I/N` computes the pairs
/// `pairs(of:)` picks and writes them with a `model.json` that says so; `nabla merge`
/// (`ModelShards.merge`) combines the N outputs into what one run writes.
public struct ShardSpec: Hashable, Sendable, CustomStringConvertible {
    /// 1-based.
    public let index: Int
    public let count: Int

    /// What a shard's `model.json` records: which shard, and every pair of the dump in
    /// order (merge orders by it and checks that the shards cover the same dump).
    public struct Record: Hashable, Sendable {
        public let index: Int
        public let count: Int
        public let pairs: [String]
    }

    /// Parses `I/N` with `1 <= I <= N`.
    /// - Throws: `NablaError.badArgument` naming the form (`0/4`, `5/4`, `a/b` are refused).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1_000_000, (1...n).contains(i) else {
            throw NablaError(.badArgument, "--shard '\(text)' is not of the form I/N with 1 <= I <= N (e.g. 2/8: the second of eight shares)")
        }
        index = i
        count = n
    }

    public var description: String { "\(index)/\(count)" }

    /// The dump's pairs (indices, ascending) this shard computes: pairs taken largest
    /// first (ties by position), each given to the shard with the least work so far (ties
    /// to the lowest shard), the longest-processing-time rule; the same for every shard
    /// of the run, so the N shards cover every pair exactly once.
    /// - Complexity: O(P log P + P N) for P pairs, headers only.
    public func pairs(of dump: ModelDump) -> [Int] {
        ShardSpec.assign(weights: dump.pairWeights(), count: count).enumerated().compactMap { $0.element == index - 1 ? $0.offset : nil }
    }

    /// The shard (0-based) of each weight, by the rule of `pairs(of:)`.
    public static func assign(weights: [Int], count: Int) -> [Int] {
        var load = [Int](repeating: 0, count: count)
        var shard = [Int](repeating: 0, count: weights.count)
        for i in weights.indices.sorted(by: { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }) {
            let s = load.indices.min { load[$0] != load[$1] ? load[$0] < load[$1] : $0 < $1 }!
            shard[i] = s
            load[s] += max(weights[i], 1)
        }
        return shard
    }
}

extension ModelDump {
    /// Each pair's size in elements (Q, K and V), from the headers; 1 where a header
    /// cannot tell. Pairs sliced from one tensor (`--axes` with layer/step axes) weigh the
    /// same.
    /// - Complexity: one header read per file.
    public func pairWeights() -> [Int] {
        let files = OpenedFiles()
        func size(_ source: TensorSource?) -> Int {
            guard let source, let file = try? files.file(source.path) else { return 0 }
            let listing = file.listing
            let entry = listing.first { $0.key == source.key } ?? (listing.count == 1 ? listing.first : nil)
            return entry.map { $0.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max / 4 : $0 * $1 } } ?? 0
        }
        return pairs.map { max(size($0.q) + size($0.k) + size($0.v), 1) }
    }
}

/// Combines the outputs of the shards of one `mask --all` run (`nabla merge`).
public enum ModelShards {
    /// A shard's `model.json`, read back.
    struct Shard {
        let directory: String
        let object: [String: Any]
        let record: ShardSpec.Record
        let pairs: [[String: Any]]
    }

    /// Merges the shard outputs `directories` into `directory`: every pair folder copied
    /// as it is and a `model.json` equal to the one a single run writes (the same pairs in
    /// the dump's order, the same numbers, no `shard` field). All or nothing, like every
    /// output set (`OutputSet.replaceTree`).
    /// - Throws: `NablaError.badArgument` for shards of different runs (naming the field
    ///   that differs and both values), a shard given twice or missing, a folder that is
    ///   no shard output; `.writeFailed` from writing.
    /// - Complexity: reads and writes every file of the shards once.
    public static func merge(_ directories: [String], into directory: String) throws -> ModelReport {
        guard !directories.isEmpty else { throw NablaError(.badArgument, "merge needs the output folders of the shards") }
        let shards = try directories.map(read)
        let first = shards[0]
        for s in shards.dropFirst() {
            for field in ["input", "block", "threshold", "sta", "recall_sample"] where !same(first.object[field], s.object[field]) {
                throw NablaError(.badArgument, "\(s.directory)/model.json: \(field) \(shown(s.object[field])) differs from \(first.directory)/model.json's \(shown(first.object[field])): shards of different runs")
            }
            if s.record.count != first.record.count {
                throw NablaError(.badArgument, "\(s.directory)/model.json: shard count \(s.record.count) differs from \(first.directory)/model.json's \(first.record.count): shards of different runs")
            }
            if s.record.pairs != first.record.pairs {
                throw NablaError(.badArgument, "\(s.directory)/model.json: the dump's pairs differ from \(first.directory)/model.json's: shards of different runs")
            }
            let recall = { (x: Shard) in x.pairs.contains { double(($0["heads"] as? [[String: Any]])?.first?["recall"]) != nil } }
            if recall(s) != recall(first) && !s.pairs.isEmpty && !first.pairs.isEmpty {
                throw NablaError(.badArgument, "\(s.directory)/model.json: recall \(recall(s) ? "computed" : "not computed") differs from \(first.directory)/model.json's: shards of different runs")
            }
        }
        var seen: [Int: String] = [:]
        for s in shards {
            if let other = seen[s.record.index] {
                throw NablaError(.badArgument, "\(s.directory) and \(other) are both shard \(s.record.index)/\(s.record.count)")
            }
            seen[s.record.index] = s.directory
        }
        let missing = (1...first.record.count).filter { seen[$0] == nil }
        guard missing.isEmpty else {
            throw NablaError(.badArgument, "shard\(missing.count > 1 ? "s" : "") \(missing.map { "\($0)/\(first.record.count)" }.joined(separator: ", ")) missing: merge takes every shard of the run")
        }
        // The pairs in the dump's order, each from the shard that computed it.
        var byPrefix: [String: (Shard, [String: Any])] = [:]
        for s in shards { for p in s.pairs { if let prefix = p["prefix"] as? String { byPrefix[prefix] = (s, p) } } }
        var results: [ModelReport.PairResult] = []
        var sources: [(from: String, folder: String)] = []
        for prefix in first.record.pairs {
            guard let (s, p) = byPrefix[prefix] else {
                throw NablaError(.badArgument, "pair '\(TensorIO.shown(prefix))' is in no shard's model.json: merge takes every shard of the run")
            }
            results.append(try pairResult(p, block: s.object["block"], in: s.directory))
            let folder = ModelDump.directoryName(prefix)
            sources.append((OutputPath.join(s.directory, folder), folder))
        }
        let settings = try MaskSettings(threshold: number(first.object["threshold"], "threshold", first.directory),
                                        sta: (first.object["sta"] as? [Int]).map { STAWindow(wt: $0[0], wh: $0[1], ww: $0[2]) })
        let b = try triple(first.object["block"], "block", first.directory)
        let report = ModelReport(path: first.object["input"] as? String ?? "", block: BlockShape(bt: b[0], bh: b[1], bw: b[2]),
                                 settings: settings, pairs: results, recall: try recall(first, pairs: results))
        try OutputSet.replaceTree(directory: directory, oldMembers: ModelReport.members(ofEarlierOutput:)) { stage in
            for (from, name) in sources {
                let folder = try stage.folder(named: name)
                let files = try FileManager.default.contentsOfDirectory(atPath: from).sorted()
                for file in files where !file.hasPrefix(".") {
                    try copy(OutputPath.join(from, file), into: folder, named: file)
                }
            }
            try stage.write(Array((report.json().rendered() + "\n").utf8), named: ModelReport.summaryName)
        }
        return report
    }

    /// How the run found recall: its `recall_sample`, else exact when any pair has recall.
    static func recall(_ shard: Shard, pairs: [ModelReport.PairResult]) throws -> ModelReport.Recall? {
        guard let sample = shard.object["recall_sample"] else { return pairs.contains { $0.recall != nil } ? .exact : nil }
        let file = OutputPath.join(shard.directory, ModelReport.summaryName)
        guard let object = sample as? [String: Any], let seed = object["seed"] as? Int, seed >= 0 else {
            throw NablaError(.malformedFile, "\(file): recall_sample is not an object with blocks or auto and a seed")
        }
        let size: SampleRequest.Size
        if let k = object["blocks"] as? Int {
            size = .blocks(k)
        } else if let w = double(object["auto"]) {
            size = .auto(halfWidth: w)
        } else {
            throw NablaError(.malformedFile, "\(file): recall_sample has neither blocks nor auto")
        }
        return .sampled(RecallSource.Request(size: size, seed: UInt64(seed)))
    }

    static func read(_ directory: String) throws -> Shard {
        let path = OutputPath.join(directory, ModelReport.summaryName)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NablaError(.badArgument, "\(path): cannot read it (merge takes the --out folders of mask --all --shard runs)")
        }
        // nabla's own parser: numbers are read from their text exactly (Double(String)),
        // so the merged model.json prints the same digits the shards did.
        let parsed = data.withUnsafeBytes { raw -> JSONValue? in
            var parser = JSONParser(raw)
            return try? parser.parseWhole()
        }
        guard let parsed, let object = plain(parsed) as? [String: Any] else {
            throw NablaError(.malformedFile, "\(path): not a JSON object")
        }
        guard let shard = object["shard"] as? [String: Any], let index = shard["index"] as? Int, let count = shard["count"] as? Int,
              let names = shard["pairs"] as? [String] else {
            throw NablaError(.badArgument, "\(path): no shard field: the output of a whole run, not of mask --all --shard I/N")
        }
        guard let pairs = object["pairs"] as? [[String: Any]] else { throw NablaError(.malformedFile, "\(path): pairs is not a list") }
        return Shard(directory: directory, object: object, record: ShardSpec.Record(index: index, count: count, pairs: names), pairs: pairs)
    }

    static func pairResult(_ p: [String: Any], block: Any?, in directory: String) throws -> ModelReport.PairResult {
        let file = OutputPath.join(directory, ModelReport.summaryName)
        guard let prefix = p["prefix"] as? String, let heads = p["heads"] as? [[String: Any]] else {
            throw NablaError(.malformedFile, "\(file): a pair lacks prefix or heads")
        }
        let g = try triple(p["grid"], "grid", directory)
        let grid = TokenGrid(t: g[0], h: g[1], w: g[2])
        guard let n = p["n"] as? Int else { throw NablaError(.malformedFile, "\(file): pair '\(prefix)' lacks n") }
        // The block grid from the run's block shape; its count must be the recorded n.
        let b = try triple(block, "block", directory)
        let blocks = try BlockGrid(grid: grid, block: BlockShape(bt: b[0], bh: b[1], bw: b[2]))
        guard blocks.count == n else { throw NablaError(.malformedFile, "\(file): pair '\(prefix)' has n \(n), its grid and block make \(blocks.count)") }
        func ints(_ key: String) throws -> [Int] {
            try heads.map { guard let v = $0[key] as? Int else { throw NablaError(.malformedFile, "\(file): pair '\(prefix)' lacks \(key)") }; return v }
        }
        func doubles(_ key: String) throws -> [Double] { try heads.map { try number($0[key], key, directory) } }
        let recall: [Double]? = heads.allSatisfy({ double($0["recall"]) != nil }) && !heads.isEmpty ? try doubles("recall") : nil
        // An estimate's intervals and sample size, as the shard recorded them.
        var ci95: [ClosedRange<Double>]?
        if p["sampled_blocks"] != nil {
            ci95 = try heads.map { head in
                guard let pair = head["recall_ci95"] as? [Any], pair.count == 2, let lo = double(pair[0]), let hi = double(pair[1]), lo <= hi else {
                    throw NablaError(.malformedFile, "\(file): pair '\(prefix)' has sampled_blocks and a head without recall_ci95 [lo, hi]")
                }
                return lo...hi
            }
        }
        return ModelReport.PairResult(prefix: prefix, grid: grid, blocks: blocks, headIndices: try ints("head"),
                                      density: try doubles("density"), massKept: try doubles("mass_kept"),
                                      keptBlocks: try ints("kept_blocks"), overallDensity: try number(p["density"], "density", directory),
                                      recall: recall, recallCI95: ci95, sampledBlocks: p["sampled_blocks"] as? Int)
    }

    static func number(_ value: Any?, _ field: String, _ directory: String) throws -> Double {
        guard let v = double(value) else { throw NablaError(.malformedFile, "\(directory)/model.json: \(field) is not a number") }
        return v
    }

    static func double(_ value: Any?) -> Double? {
        switch value {
        case let v as Double: v
        case let v as Int: Double(v)
        default: nil
        }
    }

    /// The parsed value as plain Swift values: objects `[String: Any]`, arrays `[Any]`,
    /// integers `Int`, other numbers `Double` (exact), `nil` as `NSNull`.
    static func plain(_ value: JSONValue) -> Any {
        switch value {
        case .object(let members): Dictionary(members.map { ($0.0, plain($0.1)) }, uniquingKeysWith: { a, _ in a })
        case .array(let items): items.map(plain)
        case .string(let s): s
        case .number(let text, let int): int.map { $0 as Any } ?? (Double(text) ?? .nan)
        case .bool(let b): b
        case .null: NSNull()
        }
    }

    static func triple(_ value: Any?, _ field: String, _ directory: String) throws -> [Int] {
        guard let v = value as? [Int], v.count == 3 else { throw NablaError(.malformedFile, "\(directory)/model.json: \(field) is not three integers") }
        return v
    }

    static func same(_ a: Any?, _ b: Any?) -> Bool { shown(a) == shown(b) }

    static func shown(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: "null"
        case let v as [Any]: v.map { shown($0) }.joined(separator: "x")
        case let v as Double: "\(v)"
        case let v as Int: "\(v)"
        case let v as String: "'\(v)'"
        // Objects by key order, so that the same object reads the same (`recall_sample`).
        case let v as [String: Any]: "{" + v.keys.sorted().map { "\($0) \(shown(v[$0]))" }.joined(separator: ", ") + "}"
        case let v?: "\(v)"
        }
    }

    /// Copies `path` into `stage` as `name`, 8 MiB at a time.
    static func copy(_ path: String, into stage: OutputSet.Stage, named name: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw NablaError(.fileUnreadable, "\(path): cannot read it")
        }
        defer { try? handle.close() }
        try stage.write(named: name) { sink in
            while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
                try sink.write([UInt8](chunk))
            }
        }
    }
}
