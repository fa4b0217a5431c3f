import Foundation

/// What a tensor file holds and what nabla would take it to be, for `nabla info`: its
/// tensors (key, dtype, shape) and metadata, and either Q/K (grid, heads, head dim,
/// order), a latent (layout and why, size, the token grid its patch makes) or the
/// reason it can be neither; with the block grid of a block shape.
///
/// Reads only headers and shapes (values are not checked for NaN here).
public struct FileSummary: Sendable {
    /// One tensor in the file: its key, dtype and shape, as the file lists them.
    public typealias Tensor = TensorFile.Listing

    /// What nabla takes the file to be.
    public enum Kind: String, Sendable {
        /// Q/K pairs named PREFIX.q / PREFIX.k, several of them (a whole-model dump);
        /// grid, heads and head dim are those of the first pair.
        case model
        case qk, latent, none
    }

    public let path: String
    /// `npy`, `safetensors`, `torch` or `npz`.
    public let format: String
    public let byteCount: Int
    /// `__metadata__`, sorted by key (empty for .npy).
    public let metadata: [(key: String, value: String)]
    public let tensors: [Tensor]
    /// The Q/K pairs of a whole-model dump (`ModelDump`), by prefix; empty unless
    /// `kind == .model`.
    public let pairs: [String]
    /// The pair described (`reading`, `grid`, `heads`): the one asked for, or the first.
    public let pair: String?
    public let kind: Kind
    /// Why the file is neither Q/K nor a latent (`kind == .none`), or why its grid does
    /// not divide into blocks.
    public let problem: Wording?

    /// How the tensors are read: for Q/K the axis letters and order, for a latent the
    /// layout and the reason for it.
    public let reading: Wording?
    /// The token grid (Q/K: from the shape, `__metadata__` or options; latent: after the patch).
    public let grid: TokenGrid?
    public let heads: Int?
    public let headDim: Int?
    /// Latent only: channels and `T x H x W`.
    public let latentSize: (channels: Int, frames: Int, height: Int, width: Int)?
    /// The stand-in settings used for a latent.
    public let synthesis: SynthesisOptions?
    public let block: BlockShape
    public let blocks: BlockGrid?

    /// Summarises the file at `path` under the same options `InputSpec.load()` would use;
    /// for a whole-model dump, its pair `pair` (a prefix, as in `FILE:PREFIX`), or the
    /// first pair when `nil`. Reads headers only.
    /// - Throws: `NablaError` when the file cannot be read as a .npy or safetensors file
    ///   at all (unreadable, malformed, neither format). A well-formed file that nabla
    ///   cannot use is summarised with `kind == .none` and the reason in `problem`.
    public init(path: String, layout: LayoutOptions = LayoutOptions(), synthesis: SynthesisOptions = SynthesisOptions(),
                block: BlockShape = .nabla, pair chosen: String? = nil, edge: EdgeMode = .pad) throws {
        self.path = path
        self.block = block
        let file = try TensorFile.open(path: path)
        byteCount = file.byteCount
        format = file.format
        metadata = file.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        tensors = file.listing

        var kind = Kind.none
        var problem: Wording?
        var reading: Wording?
        var grid: TokenGrid?
        var heads: Int?, headDim: Int?
        var latentSize: (Int, Int, Int, Int)?
        var usedSynthesis: SynthesisOptions?
        let files = OpenedFiles([file])
        let dump = file.keys == nil ? nil : try? ModelDump(path: path, files: files, axes: layout.axes)
        let pairs = (dump?.pairs.count ?? 0) > 1 ? dump!.pairs.map(\.name) : []
        do {
            // The plan load() would follow, on the file already opened; for a dump of
            // several pairs, the plan of its first pair.
            let described = chosen.flatMap { pairs.contains($0) ? $0 : nil } ?? pairs.first
            let source: InputSpec.Source = described.map { .latent(TensorSource(path: path, key: $0)) } ?? .file(path)
            let spec = InputSpec(source: source, layout: layout, synthesis: synthesis)
            switch try spec.plan(files: files) {
            case .qk(let q, let k, let v, let l, _, let gridSource):
                let names = [q, k] + (v.map { [$0] } ?? [])
                let what = pairs.isEmpty ? "Q/K from \(names.map { Self.key(of: $0, in: path) }.joined(separator: ", "))"
                    : "\(pairs.count) Q/K pairs PREFIX.q, PREFIX.k; " + (chosen != nil && described == chosen ? "pair \(shellQuoted(chosen ?? ""))" : "the first")
                reading = "\(what) (axes \(l.axes.map(String.init).joined(separator: " ")), token order \(l.order)), \(origin: .grid, gridSource)\(l.text.map { "; text tokens \($0) beside the video tokens" } ?? "")"
                (kind, grid, heads, headDim) = (pairs.isEmpty ? .qk : .model, l.grid, l.heads, l.headDim)
            case .latent(let raw, let l, let synthesis):
                let (c, t, y, x) = (l.size("c", in: raw.shape), l.size("t", in: raw.shape), l.size("y", in: raw.shape), l.size("x", in: raw.shape))
                reading = "latent \(l.layoutText): \(wording: l.reason)"
                latentSize = (c, t, y, x)
                (kind, heads, headDim, usedSynthesis) = (.latent, synthesis.heads, synthesis.headDim, synthesis)
                grid = try synthesis.patch.tokenGrid(frames: t, height: y, width: x, name: raw.name)
            case .sample:
                preconditionFailure("a file is Q/K or a latent")
            }
        } catch let e as NablaError {
            let hint: Wording = kind == .none && format == "npy"
                ? " (a single .npy file is read as a latent; Q and K are read from two files)" : ""
            problem = e.wording + hint
        }
        var blocks: BlockGrid?
        if let grid, problem == nil {
            do { blocks = try BlockGrid(grid: grid, block: block, edge: edge) } catch let e as NablaError { problem = e.wording }
        }
        self.kind = kind
        self.pairs = kind == .model ? pairs : []
        self.pair = kind == .model ? (chosen.flatMap { pairs.contains($0) ? $0 : nil } ?? pairs.first) : nil
        self.problem = problem
        self.reading = reading
        self.grid = grid
        self.heads = heads
        self.headDim = headDim
        self.latentSize = latentSize
        self.synthesis = usedSynthesis
        self.blocks = blocks
    }

    /// The key of tensor `raw` of the file at `path` (its name after `PATH:`).
    static func key(of raw: some TensorDescription, in path: String) -> String {
        raw.name.hasPrefix(path + ":") ? String(raw.name.dropFirst(path.count + 1)) : raw.name
    }

    /// A readable multi-line summary, settings spelled by `names`.
    public func text(naming names: SettingNames = .engine) -> String {
        var lines: [String] = []
        func add(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + value)
        }
        add("file", "\(Shown.path(path)) (\(format), \(byteCount) bytes)")
        for (i, m) in metadata.enumerated() {
            add(i == 0 ? "metadata" : "", "\(TensorIO.shown(m.key)) = \(TensorIO.shown(m.value, limit: 100))")
        }
        // Keys as they are typed after FILE: on a command line (quoted when the shell needs it).
        let keyWidth = tensors.map { shellQuoted($0.key ?? "-").count }.max() ?? 1
        for (i, t) in tensors.prefix(50).enumerated() {
            let key = shellQuoted(t.key ?? "-").padding(toLength: keyWidth, withPad: " ", startingAt: 0)
            add(i == 0 ? "tensors" : "", "\(key)  \(TensorIO.shown(t.dtypeName).padding(toLength: 8, withPad: " ", startingAt: 0)) \(shapeText(t.shape))\(t.dtype == nil ? "  (not read by nabla)" : "")")
        }
        if tensors.count > 50 { add("", "... \(tensors.count - 50) more") }
        switch kind {
        case .none:
            add("reads as", "nothing: \(problem?.text(naming: names) ?? "unknown")")
            return lines.joined(separator: "\n")
        case .qk, .model:
            add("reads as", reading?.text(naming: names) ?? "")
            if !pairs.isEmpty {
                add("pairs", "\(pairs.count): " + pairs.prefix(12).map(shellQuoted).joined(separator: ", ") + (pairs.count > 12 ? ", ..." : ""))
            }
            if let grid, let heads, let headDim {
                add("grid", "\(grid) (\(grid.tokens) tokens), \(heads) heads, head dim \(headDim)")
            }
        case .latent:
            add("reads as", reading?.text(naming: names) ?? "")
            if let s = latentSize { add("latent", "\(s.channels) channels, \(s.frames)x\(s.height)x\(s.width) (T x H x W)") }
            if let grid, let synthesis {
                add("stand-in", "patch \(synthesis.patch) -> token grid \(grid) (\(grid.tokens) tokens), \(synthesis.heads) heads, head dim \(synthesis.headDim), seed \(synthesis.seed)")
            }
        }
        if let blocks {
            add("blocks", "\(block) -> block grid \(blocks), N = \(blocks.count)")
            if let edge = blocks.edgeText { add("edge", edge) }
        } else if let problem {
            add("problem", problem.text(naming: names))
        }
        return lines.joined(separator: "\n")
    }

    /// The summary as one JSON object, settings spelled by `names`.
    public func json(naming names: SettingNames = .engine) -> JSON {
        var fields: [(String, JSON)] = [
            ("path", .string(path)),
            ("format", .string(format)),
            ("bytes", .int(byteCount)),
            ("metadata", .object(metadata.map { ($0.key, .string($0.value)) })),
            ("tensors", .array(tensors.map { t in
                .object([("key", t.key.map { .string($0) } ?? .null), ("dtype", .string(t.dtypeName)), ("readable", .bool(t.dtype != nil)),
                         ("shape", .array(t.shape.map { .int($0) }))])
            })),
            ("kind", .string(kind.rawValue)),
            ("pairs", .array(pairs.map { .string($0) })),
            ("pair", pair.map { .string($0) } ?? .null),
            ("reading", reading.map { .string($0.text(naming: names)) } ?? .null),
            ("problem", problem.map { .string($0.text(naming: names)) } ?? .null),
            ("grid", grid.map { JSON.triple($0.t, $0.h, $0.w) } ?? .null),
            ("heads", heads.map { .int($0) } ?? .null),
            ("head_dim", headDim.map { .int($0) } ?? .null),
        ]
        if let s = latentSize {
            fields.append(("latent", .object([("channels", .int(s.channels)), ("size", JSON.triple(s.frames, s.height, s.width))])))
        }
        if let synthesis {
            fields.append(("stand_in", .object([("patch", JSON.triple(synthesis.patch.pt, synthesis.patch.ph, synthesis.patch.pw)),
                                                ("heads", .int(synthesis.heads)), ("head_dim", .int(synthesis.headDim)),
                                                ("seed", .int(Int(truncatingIfNeeded: synthesis.seed)))])))
        }
        fields.append(("block", JSON.triple(block.bt, block.bh, block.bw)))
        fields.append(("block_grid", blocks.map { JSON.triple($0.tb, $0.hb, $0.wb) } ?? .null))
        fields.append(("n", blocks.map { .int($0.count) } ?? .null))
        fields.append(("edge", blocks.flatMap { $0.edgeText == nil ? nil : JSON.string($0.edge.rawValue) } ?? .null))
        return .object(fields)
    }
}

/// `s` as typed in a POSIX shell: unchanged when it has only safe characters, else in
/// single quotes (a quote inside written `'\''`); control characters escaped for display.
public func shellQuoted(_ s: String) -> String {
    let safe = s.unicodeScalars.allSatisfy { c in
        (c.value < 0x80 && (CharacterSet.alphanumerics.contains(c) || "._-+=@,/:%".unicodeScalars.contains(c)))
    }
    if safe && !s.isEmpty { return s }
    return "'" + TensorIO.shown(s).replacingOccurrences(of: "'", with: "'\\''") + "'"
}
