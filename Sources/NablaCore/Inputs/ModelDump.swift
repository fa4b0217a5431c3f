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

        /// The name that selects the pair (`FILE:NAME`, `DIR:NAME`) and that messages,
        /// reports and views show: the prefix, or `_` for bare `q` and `k` (the folder name
        /// its outputs get too, issue 20 item 15).
        public var name: String { ModelDump.name(ofPrefix: prefix) }
    }

    /// `_` for the empty prefix (bare `q` and `k`), the prefix itself otherwise.
    public static func name(ofPrefix prefix: String) -> String { prefix.isEmpty ? "_" : prefix }

    /// The pair `name` selects: the pair with that prefix, else for `_` the pair of bare
    /// `q` and `k`; `nil` when none.
    public func pair(named name: String) -> Pair? {
        pairs.first { $0.prefix == name } ?? (name == "_" ? pairs.first { $0.prefix.isEmpty } : nil)
    }

    /// The file or folder as given.
    public let path: String
    public let pairs: [Pair]
    /// One line for each `PREFIX.q` without its `PREFIX.k` or the other way round
    /// (`DIR/b.q.npy: tensor b.q has no b.k`): not a pair, so not computed; commands
    /// print these as warnings.
    public let unpaired: [String]

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
            names = try Self.names(inFolder: path, entries: entries) { try files.file($0).keys }
        } else if let keys = try files.file(path).keys {
            names = keys.map { ($0, TensorSource(path: path, key: $0)) }
        }
        try Self.checkUnique(names, in: path)
        let named = Self.pairs(in: names)
        unpaired = Self.unpaired(in: names)
        let leading = try LeadingAxes(axes)
        guard !leading.letters.isEmpty else {
            pairs = named
            return
        }
        var split: [Pair] = []
        for pair in named {
            let shape = try files.tensor(pair.q).shape
            guard shape.count > leading.letters.count else {
                throw NablaError(.badShape, "\(pair.q.shown): shape \(shapeText(shape)) has no room for the layer/step axes of --axes '\(axes ?? "")'")
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

    /// The tensors a folder holding the files `entries` names: the tensor files among
    /// them in natural order, each giving `STEM` (no keys: a .npy file) or `STEM.KEY`
    /// for each of its keys (`keys`, given the file's path; `""` gives `STEM`).
    /// - Throws: what `keys` throws.
    static func names(inFolder path: String, entries: [String],
                      keys: (String) throws -> [String]?) rethrows -> [(String, TensorSource)] {
        var names: [(String, TensorSource)] = []
        let tensorFiles = entries.filter { n in Self.extensions.contains { n.lowercased().hasSuffix($0) } }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        for name in tensorFiles {
            let file = (path as NSString).appendingPathComponent(name)
            let stem = (name as NSString).deletingPathExtension
            guard let keys = try keys(file) else {
                names.append((stem, TensorSource(path: file)))
                continue
            }
            for key in keys {
                names.append((key.isEmpty ? stem : "\(stem).\(key)", TensorSource(path: file, key: key.isEmpty ? nil : key)))
            }
        }
        return names
    }

    /// The pair member a tensor name gives: `PREFIX.q` is `q` of pair `PREFIX`, bare `q`
    /// is `q` of pair `""`, and so is `.q` (an empty prefix: the same member, two
    /// spellings); likewise `k` and `v`. `nil` for other names.
    struct Member: Hashable {
        let prefix: String
        let letter: String

        init?(_ name: String) {
            for letter in ["q", "k", "v"] {
                if name == letter {
                    (prefix, self.letter) = ("", letter)
                    return
                }
                if name.hasSuffix(".\(letter)") {
                    (prefix, self.letter) = (String(name.dropLast(2)), letter)
                    return
                }
            }
            return nil
        }

        init(prefix: String, letter: String) { (self.prefix, self.letter) = (prefix, letter) }

        /// The member's usual name: `PREFIX.letter`, or the bare letter for pair `""`.
        var name: String { prefix.isEmpty ? letter : "\(prefix).\(letter)" }
    }

    /// The pairs among named tensors, in the order of their `q`; the first tensor of
    /// each member is taken (`checkUnique` refuses a second).
    static func pairs(in names: [(String, TensorSource)]) -> [Pair] {
        var byMember: [Member: TensorSource] = [:]
        for (name, source) in names {
            if let m = Member(name), byMember[m] == nil { byMember[m] = source }
        }
        var seen: Set<String> = []
        return names.compactMap { name, q in
            guard let m = Member(name), m.letter == "q", seen.insert(m.prefix).inserted else { return nil }
            guard let k = byMember[Member(prefix: m.prefix, letter: "k")] else { return nil }
            return Pair(prefix: m.prefix, q: q, k: k, v: byMember[Member(prefix: m.prefix, letter: "v")])
        }
    }

    /// The members of a pair (`q`, `k`, `v`, `PREFIX.q`, ...) named twice, as by
    /// `blocks.3.pt` holding `q` and a file `blocks.3.q.npy`, or spelled twice (`q` and
    /// `.q`), are refused: which one is meant cannot be told.
    /// - Throws: `NablaError.badArgument` naming the name(s) and both sources.
    static func checkUnique(_ names: [(String, TensorSource)], in path: String) throws {
        var seen: [Member: (name: String, source: TensorSource)] = [:]
        for (name, source) in names {
            guard let member = Member(name) else { continue }
            if let first = seen[member] {
                if first.name == name {
                    throw NablaError(.badArgument, "\(path): two tensors are named \(TensorIO.shown(name)) (\(first.source.shown) and \(source.shown)); rename or move one")
                }
                throw NablaError(.badArgument, "\(path): tensors \(TensorIO.shown(first.name)) (\(first.source.shown)) and \(TensorIO.shown(name)) (\(source.shown)) are both \(member.letter) of pair '\(TensorIO.shown(member.prefix))'; rename or move one")
            }
            seen[member] = (name, source)
        }
    }

    /// The `q` without a `k` and the `k` without a `q` among `names`, one line each.
    static func unpaired(in names: [(String, TensorSource)]) -> [String] {
        let known = Set(names.compactMap { Member($0.0) })
        var lines: [String] = []
        for (name, source) in names {
            guard let m = Member(name), m.letter != "v" else { continue }
            let partner = Member(prefix: m.prefix, letter: m.letter == "q" ? "k" : "q")
            if !known.contains(partner) {
                lines.append("\(source.shown): tensor \(TensorIO.shown(name)) has no \(TensorIO.shown(partner.name)) beside it; not a Q/K pair, skipped")
            }
        }
        return lines
    }

    /// The pair named `prefix`.
    /// - Throws: `NablaError.missingTensor` listing the pairs the dump has.
    public func pair(_ prefix: String) throws -> Pair {
        if let p = pair(named: prefix) { return p }
        throw NablaError(.missingTensor, "\(path) has no Q/K pair '\(TensorIO.shown(prefix))' (tensors \(TensorIO.shown(prefix)).q and \(TensorIO.shown(prefix)).k; pairs: \(pairList))")
    }

    /// The prefixes for messages, at most 20.
    public var pairList: String {
        TensorIO.keyList(pairs.map(\.name))
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

    /// The folder name for `prefix` inside an output folder: the prefix itself when it
    /// is a plain name (`blocks.20.step30`), else escaped one to one, so two pairs never
    /// share a folder and none writes outside its own:
    /// - `%`, `/`, control characters and a leading `.` become `%XX` (two hex digits of
    ///   the byte; `a/b` gives `a%2Fb`, `..` gives `%2E.`, `a%b` gives `a%25b`);
    /// - a name that would read `model.json` in any case has its dots escaped
    ///   (`model%2Ejson`), so it never meets the summary beside it;
    /// - `""` (bare `q` and `k`) gives `_`, and `_` itself gives `%5F`.
    ///
    /// Decoding `%XX` (and `_` alone to `""`) gives the prefix back, so the map is
    /// injective. Names of earlier versions, which mapped `/` to `_`, differ only for
    /// prefixes holding `/`, `%`, a leading `.` or a control character, or equal to `_`.
    public static func directoryName(_ prefix: String) -> String {
        if prefix.isEmpty { return "_" }
        if prefix == "_" { return "%5F" }
        var out = ""
        func escape(_ byte: UInt8) { out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true) }
        for (i, c) in prefix.unicodeScalars.enumerated() {
            if c == "%" || c == "/" || c.value < 0x20 || c.value == 0x7F || (i == 0 && c == ".") {
                escape(UInt8(c.value))
            } else {
                out.unicodeScalars.append(c)
            }
        }
        if out.lowercased() == ModelReport.summaryName { out = out.replacingOccurrences(of: ".", with: "%2E") }
        return out
    }

    /// The folder name of every pair (`directoryName`), checked before anything is
    /// written: no two alike (nor alike but for case, on file systems that ignore case),
    /// and each within `nameMax` bytes.
    /// - Throws: `NablaError.writeFailed`, one line naming both pairs of a clash, or the
    ///   pair whose folder name is too long.
    /// - Complexity: O(total length of the prefixes).
    public func folderNames(in directory: String, nameMax: Int) throws -> [String] {
        try Self.folderNames(of: pairs.map(\.prefix), in: directory, nameMax: nameMax)
    }

    /// `folderNames(in:nameMax:)` for pairs named `prefixes`.
    static func folderNames(of prefixes: [String], in directory: String, nameMax: Int) throws -> [String] {
        let names = prefixes.map(directoryName)
        var seen: [String: Int] = [:]
        for (i, name) in names.enumerated() {
            if name.utf8.count > nameMax {
                throw NablaError(.writeFailed, "cannot write \(directory)/\(TensorIO.shown(name)): the folder name of pair '\(TensorIO.shown(prefixes[i]))' is \(name.utf8.count) bytes, more than the \(nameMax) the file system allows")
            }
            #if canImport(Darwin)
            let key = name.lowercased().precomposedStringWithCanonicalMapping
            #else
            let key = name
            #endif
            if let j = seen[key] {
                throw NablaError(.writeFailed, "cannot write \(directory): pairs '\(TensorIO.shown(prefixes[j]))' and '\(TensorIO.shown(prefixes[i]))' would both write the folder \(TensorIO.shown(name))")
            }
            seen[key] = i
        }
        return names
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

