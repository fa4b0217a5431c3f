/// What a user asked nabla to open, before anything is read: Q/K tensors (and V), a
/// single file whose contents decide, a video latent, or the built-in sample; with the
/// layout options that say how to read them.
///
/// Every front end builds one of these (the command line from its options, the terminal
/// app's `open` prompt from the same options) and calls `load()`.
public struct InputSpec: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// The built-in procedural sample (`BuiltinSample`).
        case sample
        /// Q, K and optionally V, each a tensor on the command line.
        case tensors(q: TensorSource, k: TensorSource, v: TensorSource?)
        /// A video latent that the stand-in layer turns into Q, K and V (`--latent`).
        case latent(TensorSource)
        /// One file whose contents decide (`load()` resolves it): Q/K (and V) when it is
        /// a safetensors file holding tensors `q` and `k`, otherwise a latent.
        case file(String)
    }

    public var source: Source
    /// How to read Q/K tensors (`grid`, `order`, `axes`, `batch`); for a latent only
    /// `axes` (letters `b c t y x`) and `batch` apply.
    public var layout: LayoutOptions
    /// The stand-in layer's settings, for a latent and the built-in sample.
    public var synthesis: SynthesisOptions

    public init(source: Source, layout: LayoutOptions = LayoutOptions(), synthesis: SynthesisOptions = SynthesisOptions()) {
        self.source = source
        self.layout = layout
        self.synthesis = synthesis
    }

    /// A short name for status lines and summaries.
    public var displayName: String {
        switch source {
        case .sample: "sample"
        case .tensors(let q, let k, _):
            q.path == k.path ? lastComponent(q.path) : "\(lastComponent(q.path)) + \(lastComponent(k.path))"
        case .latent(let l): lastComponent(l.description)
        case .file(let path): lastComponent(path)
        }
    }

    /// The spec with a `.file` source resolved into `.tensors` (a safetensors file
    /// holding `q` and `k`, with `v` when it has one) or `.latent` (anything else);
    /// other sources unchanged. Reads only the file's header.
    /// - Throws: `NablaError` from opening the file (unreadable, malformed);
    ///   `.missingTensor` for a safetensors file holding several tensors but not `q`
    ///   and `k`.
    public func resolved() throws -> InputSpec {
        guard case .file(let path) = source else { return self }
        var spec = self
        guard let keys = try InputSpec.safetensorsKeys(path) else {
            spec.source = .latent(TensorSource(path: path))
            return spec
        }
        if keys.contains("q") && keys.contains("k") {
            spec.source = .tensors(q: TensorSource(path: path, key: "q"), k: TensorSource(path: path, key: "k"),
                                   v: keys.contains("v") ? TensorSource(path: path, key: "v") : nil)
        } else if keys.count == 1 {
            spec.source = .latent(TensorSource(path: path))
        } else {
            throw NablaError(.missingTensor, keys.isEmpty ? "\(path) holds no tensors" :
                "\(path) holds \(keys.count) tensors but not q and k; give Q and K as FILE:KEY FILE:KEY, or a latent as FILE:KEY (available: \(TensorIO.keyList(keys)))")
        }
        return spec
    }

    /// The keys of a safetensors file in file order, or `nil` for a .npy file.
    static func safetensorsKeys(_ path: String) throws -> [String]? {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        if bytes.count >= NPY.magic.count, Array(bytes.prefix(NPY.magic.count)) == NPY.magic { return nil }
        let lower = path.lowercased()
        let looksSafetensors = bytes.count >= 9 && bytes[8] == UInt8(ascii: "{")
        // As `TensorSource.load()` decides; what is not safetensors fails there, clearly.
        guard lower.hasSuffix(".safetensors") || (looksSafetensors && !lower.hasSuffix(".npy")) else { return nil }
        return try SafetensorsFile.decode(bytes, path: path, owner: file).keys
    }

    /// Reads and validates the inputs; for a latent or the sample, runs the stand-in
    /// layer (`AttentionStandIn`) to make Q, K and V.
    /// - Throws: `NablaError` naming the file or tensor at fault, or the option that
    ///   does not apply to the input (`--grid`/`--order` with a latent, `--heads`/
    ///   `--head-dim`/`--patch`/`--seed` with Q/K, layout options with the sample).
    public func load() throws -> QKInput {
        switch try resolved().source {
        case .sample:
            if let given = layout.givenOptions(["--grid", "--order", "--axes", "--batch"]) {
                throw NablaError(.badArgument, "\(given) applies to input files; the built-in sample has none")
            }
            return try BuiltinSample.load(options: synthesis)
        case .latent(let source):
            if let given = layout.givenOptions(["--grid", "--order"]) {
                throw NablaError(.badArgument, "\(given) applies to Q/K tensors; the grid of latent \(source) comes from its shape and --patch")
            }
            let raw = try source.load()
            let latent = try VideoLatent(raw, axes: layout.axes, batch: layout.batch)
            return try AttentionStandIn.input(from: latent, options: synthesis, name: displayName)
        case .tensors(let qs, let ks, let vs):
            if synthesis != SynthesisOptions() {
                throw NablaError(.badArgument, "--heads, --head-dim, --patch and --seed apply to a latent or the built-in sample; \(displayName) holds Q/K tensors")
            }
            let q = try qs.load()
            let k = try ks.load()
            let v = try vs?.load()
            var options = layout
            try options.fill(fromMetadataOf: [qs, ks])
            return try QKInput.from(q: q, k: k, v: v, options: options, name: displayName)
        case .file:
            preconditionFailure("resolved() leaves no .file source")
        }
    }
}

extension LayoutOptions {
    /// Fills the grid and order the user did not give from the `__metadata__` of
    /// safetensors sources (keys `grid` = "TxHxW", `order` = "raster" | "block",
    /// `block` = the block shape of a block order).
    /// - Throws: `NablaError.malformedFile` when a metadata value does not parse.
    mutating func fill(fromMetadataOf sources: [TensorSource]) throws {
        for source in sources where source.key != nil || source.path.hasSuffix(".safetensors") {
            guard let file = try? SafetensorsFile.open(path: source.path) else { continue }
            let meta = file.metadata
            if grid == nil, let g = meta["grid"] {
                do { grid = try TokenGrid(parsing: g) } catch {
                    throw NablaError(.malformedFile, "\(source.path): __metadata__ grid '\(g)' is not TxHxW")
                }
            }
            if order == nil, let o = meta["order"] {
                guard let parsed = OrderOption(rawValue: o) else {
                    throw NablaError(.malformedFile, "\(source.path): __metadata__ order '\(o)' is not raster or block")
                }
                order = parsed
                if parsed == .block, let b = meta["block"] {
                    do { orderBlock = try BlockShape(parsing: b) } catch {
                        throw NablaError(.malformedFile, "\(source.path): __metadata__ block '\(b)' is not BTxBHxBW")
                    }
                }
            }
        }
    }
}

extension LayoutOptions {
    /// The first of `flags` the options set, as a phrase (`"--grid 2x8x8"`), or `nil`.
    func givenOptions(_ flags: [String]) -> String? {
        for flag in flags {
            switch flag {
            case "--grid": if let grid { return "--grid \(grid)" }
            case "--order": if let order { return "--order \(order.rawValue)" }
            case "--axes": if let axes { return "--axes '\(axes)'" }
            case "--batch": if let batch { return "--batch \(batch)" }
            default: break
            }
        }
        return nil
    }
}

func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}
