import Foundation

/// A whole-model dump: several Q/K pairs (every layer, every denoising step) in one
/// tensor file or one folder of files, each pair named by a prefix.
///
/// Naming: tensors `PREFIX.q` and `PREFIX.k` (and optionally `PREFIX.v`) form the pair
/// `PREFIX`, e.g. `blocks.20.step30.q`; bare `q` and `k` form the pair `""`. In a folder,
/// a file `STEM.npy` holds the tensor `STEM` and a file `STEM.EXT` holding several
/// tensors contributes `STEM.KEY` for each of its keys (so `blocks.3.pt` holding `q`
/// and `k` is pair `blocks.3`); files are taken in natural order (`blocks.2` before
/// `blocks.10`), tensors within a file in file order.
///
/// Leading layer and step axes: with `--axes` starting with `l` (layer) and/or `n`
/// (denoising step), e.g. `"l n h t y x d"`, every pair's tensors are split along those
/// axes into pairs `PREFIX.layer3.step1` (`layer3.step1` for bare `q` / `k`), each a
/// slice (`TensorSource.index`) read with the rest of the letters.
///
/// Opening a dump reads only headers and pickles; the tensors of a pair are read when
/// that pair is loaded, so work over all pairs holds one pair in memory at a time.
public struct ModelDump: Sendable {
    /// One Q/K pair of the dump.
    public struct Pair: Sendable, Equatable {
        /// `blocks.20.step30`; `""` for a file holding bare `q` and `k`.
        public let prefix: String
        public let q: TensorSource
        public let k: TensorSource
        public let v: TensorSource?
    }

    /// The file or folder as given.
    public let path: String
    public let pairs: [Pair]

    /// File name endings a folder's tensor files may have.
    static let extensions = [".npy", ".safetensors", ".pt", ".pth", ".npz"]

    /// Finds the pairs in the file or folder at `path`.
    /// - Throws: `NablaError` from opening the files.
    /// - Parameter axes: the `--axes` letters; leading `l` / `n` split tensors into pairs.
    public init(path: String, axes: String? = nil) throws {
        try self.init(path: path, files: OpenedFiles(), axes: axes)
    }

    init(path: String, files: OpenedFiles, axes: String? = nil) throws {
        self.path = path
        var names: [(String, TensorSource)] = []
        if Self.isDirectory(path) {
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw NablaError(.fileUnreadable, "\(path): cannot list the folder: \(error.localizedDescription)")
            }
            let tensorFiles = entries.filter { n in Self.extensions.contains { n.lowercased().hasSuffix($0) } }
                .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
            for name in tensorFiles {
                let file = (path as NSString).appendingPathComponent(name)
                let stem = (name as NSString).deletingPathExtension
                guard let keys = try files.file(file).keys else {
                    names.append((stem, TensorSource(path: file)))
                    continue
                }
                for key in keys {
                    names.append((key.isEmpty ? stem : "\(stem).\(key)", TensorSource(path: file, key: key.isEmpty ? nil : key)))
                }
            }
        } else if let keys = try files.file(path).keys {
            names = keys.map { ($0, TensorSource(path: path, key: $0)) }
        }
        let named = Self.pairs(in: names)
        let leading = try LeadingAxes(axes)
        guard !leading.letters.isEmpty else {
            pairs = named
            return
        }
        var split: [Pair] = []
        for pair in named {
            let shape = try files.tensor(pair.q).shape
            guard shape.count > leading.letters.count else {
                throw NablaError(.badShape, "\(pair.q): shape \(shapeText(shape)) has no room for the layer/step axes of --axes '\(axes ?? "")'")
            }
            let sizes = Array(shape.prefix(leading.letters.count))
            var index = [Int](repeating: 0, count: sizes.count)
            let total = sizes.reduce(1, *)
            for _ in 0..<total {
                let name = zip(leading.letters, index).map { "\($0 == "l" ? "layer" : "step")\($1)" }.joined(separator: ".")
                func sliced(_ s: TensorSource) -> TensorSource {
                    var s = s
                    s.index = index
                    return s
                }
                split.append(Pair(prefix: pair.prefix.isEmpty ? name : "\(pair.prefix).\(name)",
                                  q: sliced(pair.q), k: sliced(pair.k), v: pair.v.map(sliced)))
                var d = index.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < sizes[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        pairs = split
    }

    /// The pairs among named tensors, in the order of their `q`.
    static func pairs(in names: [(String, TensorSource)]) -> [Pair] {
        let byName = Dictionary(names, uniquingKeysWith: { first, _ in first })
        return names.compactMap { name, q in
            let prefix: String
            if name == "q" { prefix = "" } else if name.hasSuffix(".q") { prefix = String(name.dropLast(2)) } else { return nil }
            func member(_ letter: String) -> TensorSource? { byName[prefix.isEmpty ? letter : "\(prefix).\(letter)"] }
            guard let k = member("k") else { return nil }
            return Pair(prefix: prefix, q: q, k: k, v: member("v"))
        }
    }

    /// The pair named `prefix`.
    /// - Throws: `NablaError.missingTensor` listing the pairs the dump has.
    public func pair(_ prefix: String) throws -> Pair {
        if let p = pairs.first(where: { $0.prefix == prefix }) { return p }
        throw NablaError(.missingTensor, "\(path) has no Q/K pair '\(TensorIO.shown(prefix))' (tensors \(TensorIO.shown(prefix)).q and \(TensorIO.shown(prefix)).k; pairs: \(pairList))")
    }

    /// The prefixes for messages, at most 20.
    public var pairList: String {
        TensorIO.keyList(pairs.map { $0.prefix.isEmpty ? "(q, k)" : $0.prefix })
    }

    /// The spec that loads `pair` with the layout and settings of `base`.
    public func spec(for pair: Pair, base: InputSpec) -> InputSpec {
        var spec = base
        spec.source = .tensors(q: pair.q, k: pair.k, v: pair.v)
        return spec
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// A directory name for `prefix` inside an output folder: `/` becomes `_`, and `.`,
    /// `..` and `""` are prefixed so no pair writes outside its own folder.
    public static func directoryName(_ prefix: String) -> String {
        var name = String(prefix.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        if name.isEmpty || name == "." || name == ".." { name = "_" + name }
        return name
    }
}

/// The layer (`l`) and step (`n`) letters at the start of `--axes`, and the letters
/// after them, which name one pair's tensors.
struct LeadingAxes {
    let letters: [Character]
    /// The remaining axes text, `nil` when `--axes` was not given.
    let rest: String?

    /// - Throws: `NablaError.badArgument` when `l` or `n` appears after another letter,
    ///   twice, or with nothing after them.
    init(_ axes: String?) throws {
        guard let axes else {
            (letters, rest) = ([], nil)
            return
        }
        let all = axes.lowercased().filter { !$0.isWhitespace && $0 != "," }
        let lead = Array(all.prefix { $0 == "l" || $0 == "n" })
        let after = all.dropFirst(lead.count)
        guard Set(lead).count == lead.count, !after.contains("l"), !after.contains("n") else {
            throw NablaError(.badArgument, "\(setting: .axes, "'\(axes)'"): the layer and step axes l and n come first, each at most once")
        }
        guard lead.isEmpty || !after.isEmpty else {
            throw NablaError(.badArgument, "\(setting: .axes, "'\(axes)'"): name the axes of each pair after l and n")
        }
        letters = lead
        rest = lead.isEmpty ? axes : after.map(String.init).joined(separator: " ")
    }
}

