/// What a user asked nabla to open, before anything is read: Q/K tensors (and V), a
/// single file whose contents decide, a video latent, or the built-in sample; with the
/// layout options that say how to read them.
///
/// Every front end builds one of these (the command line from its options, the terminal
/// app's `open` prompt from the same options) and calls `load()`; `nabla info` calls
/// `plan()` to say what `load()` would do.
public struct InputSpec: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// The built-in procedural sample (`BuiltinSample`).
        case sample
        /// Q, K and optionally V, each a tensor on the command line.
        case tensors(q: TensorSource, k: TensorSource, v: TensorSource?)
        /// A video latent that the stand-in layer turns into Q, K and V (`--latent`).
        case latent(TensorSource)
        /// One file whose contents decide: Q/K (and V) when it is a safetensors file
        /// holding tensors `q` and `k`, otherwise a latent.
        case file(String)
    }

    public var source: Source
    /// How to read Q/K tensors (`grid`, `order`, `axes`, `batch`); for a latent only
    /// `axes` (letters `b c t y x`) and `batch` apply.
    public var layout: LayoutOptions
    /// The stand-in layer's settings, for a latent and the built-in sample.
    public var synthesis: SynthesisOptions
    /// The heads to take (tensor indices), or `nil` for all.
    public var heads: HeadSelection?
    /// `--edge`: what to do with a grid the block does not divide; `nil` is `.pad`.
    public var edge: EdgeMode?

    public init(source: Source, layout: LayoutOptions = LayoutOptions(), synthesis: SynthesisOptions = SynthesisOptions(),
                heads: HeadSelection? = nil) {
        self.source = source
        self.layout = layout
        self.synthesis = synthesis
        self.heads = heads
    }

    /// A short name for status lines and summaries.
    public var displayName: String {
        switch source {
        case .sample: "sample"
        case .tensors(let q, let k, _):
            if q.path == k.path, let qk = q.key, let kk = k.key, qk.hasSuffix(".q"), kk == qk.dropLast(2) + ".k" {
                "\(lastComponent(q.path)):\(qk.dropLast(2))"
            } else {
                q.path == k.path ? lastComponent(q.path) : "\(lastComponent(q.path)) + \(lastComponent(k.path))"
            }
        case .latent(let l): lastComponent(l.description)
        case .file(let path): lastComponent(path)
        }
    }

    /// Reads and validates the inputs; for a latent or the sample, runs the stand-in
    /// layer (`AttentionStandIn`) to make Q, K and V. Only the selected `heads` are
    /// converted and kept. Files' headers are read once and each chosen tensor's data
    /// once (see `plan()`).
    ///
    /// `halfInPlace` keeps float16/bfloat16 Q/K files as 16-bit views instead of
    /// widening them to `Float` (for callers that only compute masks; see `QKInput.from`).
    ///
    /// `progress` is told, after every chunk of data read (32 MiB), the tensor being
    /// read and the bytes read of all the input's tensors (Q, K, V or the latent), from
    /// the reading threads, one call at a time; `isCancelled` is polled as often, and a
    /// `true` stops the load with `NablaError.cancelled` (nothing read is kept).
    /// - Throws: `NablaError` naming the file or tensor at fault, or the option that
    ///   does not apply to the input (see `plan()`); `.cancelled` when `isCancelled` said so.
    ///
    /// With a head selection, only the selected heads' bytes of Q/K/V files are read
    /// (`QKInput.reading`, `HeadRead`); `values: false` leaves V unread (masks alone);
    /// `halfValues` keeps a 16-bit V as a 16-bit view too (with `halfInPlace`).
    public func load(halfInPlace: Bool = false, halfValues: Bool = false, values: Bool = true,
                     progress: ReadProgress.Report? = nil, isCancelled: (@Sendable () -> Bool)? = nil) throws -> QKInput {
        var input = try loadTensors(halfInPlace: halfInPlace, halfValues: halfValues, values: values,
                                    progress: progress, isCancelled: isCancelled)
        input.edge = edge ?? .pad
        return input
    }

    private func loadTensors(halfInPlace: Bool, halfValues: Bool, values: Bool, progress: ReadProgress.Report?,
                             isCancelled: (@Sendable () -> Bool)?) throws -> QKInput {
        let plan = try plan()
        let reading = ReadProgress(bytesTotal: plan.bytesToRead(heads: heads, values: values), report: progress,
                                   isCancelled: isCancelled)
        switch plan {
        case .sample(let synthesis):
            let input = try BuiltinSample.load(options: synthesis)
            return try heads.map(input.selecting) ?? input
        case .latent(let latent, let layout, let synthesis):
            let raw = try latent.load(progress: reading)
            if reading.shouldStop { throw ReadProgress.cancelled(displayName) }
            let input = try AttentionStandIn.input(from: VideoLatent(raw, layout: layout), options: synthesis, name: displayName)
            return try heads.map(input.selecting) ?? input
        case .qk(let q, let k, let v, let layout, let vLayout, _):
            return try QKInput.reading(q: q, k: k, v: v, layout: layout, vLayout: vLayout, name: displayName, heads: heads,
                                       halfInPlace: halfInPlace, halfValues: halfValues, values: values, progress: reading)
        }
    }

    /// What `load()` reads: each file opened and its header validated once, tensors
    /// chosen and their layouts resolved from headers alone; no tensor data is read
    /// (`PlannedTensor`), so planning costs O(headers) whatever the tensors' size.
    /// - Throws: `NablaError` from the files and layouts; `.badArgument` for an option
    ///   that does not apply (`--grid`/`--order` with a latent, `--heads`/`--head-dim`/
    ///   `--patch`/`--seed` with Q/K, layout options with the sample); `.missingTensor`
    ///   for a safetensors file holding several tensors but not `q` and `k`.
    public func plan() throws -> InputPlan {
        try plan(files: OpenedFiles())
    }

    func plan(files: OpenedFiles) throws -> InputPlan {
        let resolved = try resolved(files: files)
        try refuseText(for: resolved)
        switch resolved {
        case .sample:
            if let given = layout.given([.grid, .order, .axes, .batch]) {
                throw NablaError(.badArgument, "\(wording: given) applies to input files; the built-in sample has none")
            }
            return .sample(synthesis)
        case .latent(let source):
            if let given = layout.given([.grid, .order]) {
                throw NablaError(.badArgument, "\(wording: given) applies to Q/K tensors; the grid of latent \(source.shown) comes from its shape and \(wanted: .patch)")
            }
            let raw = try files.tensor(source)
            try raw.requireFloatingPoint(as: "a latent")
            return .latent(raw, try LatentLayout(shape: raw.shape, name: raw.name, axes: layout.axes, batch: layout.batch), synthesis)
        case .tensors(let qs, let ks, let vs):
            if synthesis != SynthesisOptions() {
                throw NablaError(.badArgument, "\(wanted: .heads), \(wanted: .headDim), \(wanted: .patch) and \(wanted: .seed) apply to a latent or the built-in sample; \(displayName) holds Q/K tensors")
            }
            let q = try files.tensor(qs), k = try files.tensor(ks), v = try vs.map(files.tensor)
            var options = layout
            // Layer and step axes (l, n) were taken by the pair's index; the rest name the pair.
            let leading = try LeadingAxes(layout.axes)
            if !leading.letters.isEmpty {
                guard qs.index.count == leading.letters.count else {
                    throw NablaError(.badArgument, "\(setting: .axes, "'\(layout.axes ?? "")'") names layer/step axes (l, n): choose one pair as FILE:PREFIX (see nabla info), or compute all with nabla mask FILE --all")
                }
                options.axes = leading.rest
            }
            // A grid and order in __metadata__ matter only for a flat sequence axis: a
            // tensor laid out over t y x takes its grid from its shape, whatever the
            // metadata says (and a bad value there must not block it).
            if try QKLayout.axisLetters(shape: q.shape, name: q.name, axes: options.axes).contains("s") {
                try options.fill(fromMetadataOf: [qs, ks].map { ($0.path, try files.file($0.path).metadata) })
            }
            let (qk, vLayout) = try QKInput.layouts(q: q, k: k, v: v, options: options)
            let gridSource = !qk.axes.contains("s") ? SettingSource.shape : options.gridSource
            return .qk(q: q, k: k, v: v, layout: qk, vLayout: vLayout, gridSource: gridSource)
        case .file:
            preconditionFailure("resolved(files:) leaves no .file source")
        }
    }

    /// The spec with a `.file` source resolved into `.tensors` (a file holding `q` and
    /// `k`, with `v` when it has one, or a whole-model dump of one pair) or `.latent` (a
    /// file holding one tensor), and a `FILE:PREFIX` naming a pair of a whole-model dump
    /// into that pair's `.tensors`; other sources unchanged. Reads only headers.
    /// - Throws: `NablaError` from opening the file; `.missingTensor` for a file holding
    ///   several tensors but not `q` and `k`, or several Q/K pairs (naming them).
    public func resolved() throws -> InputSpec {
        var spec = self
        spec.source = try resolved(files: OpenedFiles())
        return spec
    }

    /// The source with `.file` resolved into `.tensors` (a file holding `q` and `k`, or
    /// one Q/K pair `PREFIX.q`/`PREFIX.k`, or a folder of one pair) or `.latent` (anything
    /// else); a `.latent` FILE:PREFIX that names a pair of a whole-model dump (file or
    /// folder, see `ModelDump`) rather than a tensor resolves to that pair.
    func resolved(files: OpenedFiles) throws -> Source {
        switch source {
        case .latent(let src):
            guard let prefix = src.key else { return source }
            if ModelDump.isDirectory(src.path) {
                return try pairSource(ModelDump(path: src.path, files: files, axes: layout.axes).pair(prefix))
            }
            let keys = try files.file(src.path).keys ?? []
            if keys.contains(prefix) { return source }
            let dump = try ModelDump(path: src.path, files: files, axes: layout.axes)
            return dump.pair(named: prefix).map(pairSource) ?? source
        case .file(let path):
            if ModelDump.isDirectory(path) {
                return try onlyPair(ModelDump(path: path, files: files, axes: layout.axes))
            }
            let file = try files.file(path)
            guard let keys = file.keys else { return .latent(TensorSource(path: path)) }
            if try !LeadingAxes(layout.axes).letters.isEmpty {
                return try onlyPair(ModelDump(path: path, files: files, axes: layout.axes))
            }
            if keys.contains("q") && keys.contains("k") {
                return .tensors(q: TensorSource(path: path, key: "q"), k: TensorSource(path: path, key: "k"),
                                v: keys.contains("v") ? TensorSource(path: path, key: "v") : nil)
            }
            // One tensor, or one nabla reads beside others it only lists (fp8 markers).
            if keys.count == 1 || file.listing.filter({ $0.dtype != nil }).count == 1 { return .latent(TensorSource(path: path)) }
            let dump = try ModelDump(path: path, files: files, axes: layout.axes)
            if !dump.pairs.isEmpty { return try onlyPair(dump) }
            throw NablaError(.missingTensor, keys.isEmpty ? "\(path) holds no tensors" :
                "\(path) holds \(keys.count) tensors but not q and k; give Q and K as FILE:KEY FILE:KEY, or a latent as FILE:KEY (available: \(TensorIO.keyList(keys)))")
        case .sample, .tensors:
            return source
        }
    }

    private func pairSource(_ pair: ModelDump.Pair) -> Source {
        .tensors(q: pair.q, k: pair.k, v: pair.v)
    }

    /// The dump's pair when it has exactly one.
    /// - Throws: `NablaError.missingTensor` naming the pairs when it has none or several.
    private func onlyPair(_ dump: ModelDump) throws -> Source {
        switch dump.pairs.count {
        case 1: return pairSource(dump.pairs[0])
        case 0: throw NablaError(.missingTensor, "\(dump.path) holds no Q/K pair (tensors q and k, or PREFIX.q and PREFIX.k)")
        default:
            throw NablaError(.missingTensor, "\(dump.path) holds \(dump.pairs.count) Q/K pairs; choose one as \(dump.path):PREFIX, or compute all with nabla mask \(dump.path) --all --out DIR (pairs: \(dump.pairList))")
        }
    }
}

/// What `InputSpec.load()` reads, before any Q/K is built: tensors described by their
/// headers, their data not yet read.
public enum InputPlan: Sendable {
    /// The built-in sample with these stand-in settings.
    case sample(SynthesisOptions)
    /// Q/K (and V) tensors and their layouts; `gridSource` says where the grid came
    /// from: the shape, the caller or a file's `__metadata__`.
    case qk(q: PlannedTensor, k: PlannedTensor, v: PlannedTensor?, layout: QKLayout, vLayout: QKLayout?, gridSource: SettingSource)
    /// A latent tensor, its layout and the stand-in settings that will derive Q/K/V.
    case latent(PlannedTensor, LatentLayout, SynthesisOptions)

    /// Bytes of tensor data `InputSpec.load()` will read from files.
    public var bytesToRead: Int {
        switch self {
        case .sample: 0
        case .qk(let q, let k, let v, _, _, _): q.bytesToRead + k.bytesToRead + (v?.bytesToRead ?? 0)
        case .latent(let raw, _, _): raw.bytesToRead
        }
    }
}

/// The tensor files one plan opens, each opened and its header validated once.
final class OpenedFiles {
    private var byPath: [String: TensorFile] = [:]

    init(_ files: [TensorFile] = []) {
        for f in files { byPath[f.path] = f }
    }

    func file(_ path: String) throws -> TensorFile {
        if let f = byPath[path] { return f }
        let f = try TensorFile.open(path: path)
        byPath[path] = f
        return f
    }

    /// The tensor `source` names, from its file's header; its data is not read.
    func tensor(_ source: TensorSource) throws -> PlannedTensor {
        try file(source.path).planned(source.key, index: source.index)
    }
}

extension LayoutOptions {
    /// Fills the grid and order the user did not give from safetensors `__metadata__`
    /// (keys `grid` = "TxHxW", `order` = "raster" | "block", `block` = the block shape
    /// of a block order), given as (path, metadata) pairs.
    /// - Throws: `NablaError.malformedFile` when a metadata value does not parse.
    mutating func fill(fromMetadataOf files: [(path: String, metadata: [String: String])]) throws {
        for (path, meta) in files {
            if text == nil { text = try TextTokens(metadata: meta, path: path) }
            if grid == nil, let g = meta["grid"] {
                do { grid = try TokenGrid(parsing: g) } catch {
                    throw NablaError(.malformedFile, "\(path): __metadata__ grid '\(g)' is not TxHxW")
                }
                gridSource = .metadata(path: path)
            }
            if order == nil, let o = meta["order"] {
                guard let parsed = OrderOption(rawValue: o) else {
                    throw NablaError(.malformedFile, "\(path): __metadata__ order '\(o)' is not raster or block")
                }
                order = parsed
                orderSource = .metadata(path: path)
                if parsed == .block, let b = meta["block"] {
                    do { orderBlock = try BlockShape(parsing: b) } catch {
                        throw NablaError(.malformedFile, "\(path): __metadata__ block '\(b)' is not BTxBHxBW")
                    }
                }
            }
        }
    }

    /// The first of `settings` these options hold, with its value and source, or `nil`.
    func given(_ settings: [InputSetting]) -> Wording? {
        for setting in settings {
            switch setting {
            case .grid: if let grid { return "\(setting: .grid, grid.description, from: gridSource)" }
            case .order: if let order { return "\(setting: .order, order.rawValue, from: orderSource)" }
            case .axes: if let axes { return "\(setting: .axes, "'\(axes)'")" }
            case .batch: if let batch { return "\(setting: .batch, String(batch))" }
            case .heads, .headDim, .patch, .seed: break
            }
        }
        return nil
    }
}

func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}
