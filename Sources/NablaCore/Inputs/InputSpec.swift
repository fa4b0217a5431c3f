/// What a user asked nabla to open, before anything is read: Q/K tensors (and V), a
/// single file whose contents decide, a video latent, or the built-in sample; with the
/// layout options that say how to read them.
///
/// Every front end builds one of these (the command line from its options, the terminal
/// app's `open` prompt from the same options) and calls `load()`.
public struct InputSpec: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// The built-in procedural sample.
        case sample
        /// Q, K and optionally V, each a tensor on the command line.
        case tensors(q: TensorSource, k: TensorSource, v: TensorSource?)
    }

    public var source: Source
    public var layout: LayoutOptions

    public init(source: Source, layout: LayoutOptions = LayoutOptions()) {
        self.source = source
        self.layout = layout
    }

    /// A short name for status lines and summaries.
    public var displayName: String {
        switch source {
        case .sample: "sample"
        case .tensors(let q, let k, _):
            q.path == k.path ? lastComponent(q.path) : "\(lastComponent(q.path)) + \(lastComponent(k.path))"
        }
    }

    /// Reads and validates the inputs.
    /// - Throws: `NablaError` naming the file or tensor at fault.
    public func load() throws -> QKInput {
        switch source {
        case .sample:
            return try BuiltinSample.load()
        case .tensors(let qs, let ks, let vs):
            let q = try qs.load()
            let k = try ks.load()
            let v = try vs?.load()
            var options = layout
            try options.fill(fromMetadataOf: [qs, ks])
            return try QKInput.from(q: q, k: k, v: v, options: options, name: displayName)
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

func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}
