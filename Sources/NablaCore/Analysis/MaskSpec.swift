import Foundation

/// A way to make a block mask of an input, for comparing masks (`nabla diff`, the app's
/// compare view): NABLA's cut with or without STA, STA alone, a per-row top-k of the
/// pooled map, every block, or a mask file.
///
/// Text form (`nabla diff A B`): comma-separated `key=value` items,
/// - `thr=0.9` NABLA's CDF cut, `thr=0.9,sta=11x3x3` with the STA window OR-ed in;
/// - `sta=11x3x3` the STA window alone;
/// - `topk=0.25` the `round(0.25 N)` most probable pooled blocks of every row; `topk`
///   alone takes, head by head, the density of the other mask of the comparison;
/// - `dense` every block;
/// - `file=MASK.npy` (or just a path ending in `.npy`): a uint8 `[heads, N, N]` mask, as
///   `nabla attend --mask` takes;
/// - `method=vsa,keep=0.1` (any of `SparseMethods.all`, its parameters by name);
/// - `block=1x16x16` with any of them: the block shape (default: the caller's).
public struct MaskSpec: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// NABLA's cut at a threshold, with an optional STA window.
        case cut(MaskSettings)
        /// The STA window alone.
        case sta(STAWindow)
        /// The `round(density * N)` largest pooled blocks of each row (at least one);
        /// `nil` takes the other mask's density, head by head.
        case topK(density: Double?)
        case dense
        case file(String)
        /// One of `SparseMethods.all` with its parameters (`method=vsa,keep=0.1`).
        case method(MethodSpec)
    }

    public var kind: Kind
    /// The block shape, or `nil` for the caller's default.
    public var block: BlockShape?

    public init(_ kind: Kind, block: BlockShape? = nil) {
        self.kind = kind
        self.block = block
    }

    /// The spec with `block` filled in when it had none.
    public func withDefaultBlock(_ block: BlockShape) -> MaskSpec {
        MaskSpec(kind, block: self.block ?? block)
    }

    /// `thr 0.90 + STA 11x3x3 @1x8x8`-style label for tables and titles.
    public var description: String {
        var text: String
        switch kind {
        case .cut(let s): text = "thr " + fixed(s.threshold, 2) + (s.sta.map { " + STA \($0)" } ?? "")
        case .sta(let w): text = "STA \(w)"
        case .topK(let d): text = "top-k " + (d.map { percent($0) } ?? "same density")
        case .dense: text = "dense"
        case .file(let path): text = (path as NSString).lastPathComponent
        case .method(let m): text = m.description
        }
        if let block { text += " @\(block)" }
        return text
    }

    /// Parses the text form (see the type's documentation).
    /// - Throws: `NablaError.badArgument` naming the spec, the item and what is wrong.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> NablaError {
            NablaError(.badArgument, "mask spec '\(text)': \(why) (examples: thr=0.9, thr=0.9,sta=11x3x3, sta=11x3x3, topk, topk=0.2, dense, mask.npy, method=vsa,keep=0.1, with block=1x16x16)")
        }
        guard !trimmed.isEmpty else { throw bad("empty") }
        if trimmed.lowercased().hasSuffix(".npy") && !trimmed.contains("=") {
            self.init(.file(trimmed))
            return
        }
        if let method = try MaskSpec.parseMethod(trimmed, bad: bad) {
            self = method
            return
        }
        var threshold: Double?, sta: STAWindow?, topK: Double??, dense = false, file: String?, block: BlockShape?
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
            let value = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : nil
            func need() throws -> String {
                guard let value, !value.isEmpty else { throw bad("'\(key)' needs a value (\(key)=...)") }
                return value
            }
            switch key {
            case "thr", "threshold":
                let v = try need()
                guard let t = Double(v), t.isFinite, (0...1).contains(t) else { throw bad("thr '\(v)' is not a number in [0, 1]") }
                threshold = t
            case "sta":
                sta = try STAWindow(parsing: try need(), what: "sta")
            case "topk", "top-k":
                if let value {
                    guard let d = Double(value), d.isFinite, d > 0, d <= 1 else { throw bad("topk '\(value)' is not a density in (0, 1]") }
                    topK = .some(d)
                } else {
                    topK = .some(nil)
                }
            case "dense":
                guard value == nil else { throw bad("'dense' takes no value") }
                dense = true
            case "file", "mask":
                file = try need()
            case "block":
                block = try BlockShape(parsing: try need(), what: "block")
            default:
                throw bad("unknown item '\(key)'")
            }
        }
        let kinds = [threshold != nil, topK != nil, dense, file != nil].filter { $0 }.count
        guard kinds <= 1 else { throw bad("give one of thr, topk, dense, file") }
        if let threshold {
            self.init(.cut(MaskSettings(threshold: threshold, sta: sta)), block: block)
        } else if let sta {
            guard kinds == 0 else { throw bad("sta combines only with thr") }
            self.init(.sta(sta), block: block)
        } else if let topK {
            self.init(.topK(density: topK), block: block)
        } else if dense {
            self.init(.dense, block: block)
        } else if let file {
            self.init(.file(file), block: block)
        } else {
            throw bad("no mask named")
        }
    }
}

extension MaskSpec {
    /// `method=NAME` with the method's parameters and an optional `block=`, or `nil` when
    /// the text names no method.
    static func parseMethod(_ text: String, bad: (String) -> NablaError) throws -> MaskSpec? {
        var name: String?, block: BlockShape?
        var values: [String: String] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let key = parts[0].lowercased()
            guard parts.count == 2, !parts[1].isEmpty else {
                if key == "method" { throw bad("'method' needs a value (method=...)") }
                values[key] = ""
                continue
            }
            switch key {
            case "method": name = parts[1]
            case "block": block = try BlockShape(parsing: parts[1], what: "block")
            default: values[key] = parts[1]
            }
        }
        guard let name else { return nil }
        do {
            return MaskSpec(.method(MethodSpec(try SparseMethods.make(name, MethodValues(values)))), block: block)
        } catch let e as NablaError {
            throw bad(e.message)
        }
    }
}

/// One mask made from a `MaskSpec`: the kept blocks of every head on its block grid.
///
/// Layout: `kept` is `[heads, N, N]`, 1 kept and 0 dropped, blocks raster over `blocks`.
public struct SpecifiedMask: Sendable {
    public let spec: MaskSpec
    public let blocks: BlockGrid
    public let heads: Int
    public let kept: [UInt8]
    /// The pooled map the mask was cut from (`nil` for STA alone, dense and files).
    public let map: PooledMap?

    public var n: Int { blocks.count }

    public init(spec: MaskSpec, blocks: BlockGrid, heads: Int, kept: [UInt8], map: PooledMap?) {
        precondition(kept.count == heads * blocks.count * blocks.count, "mask must be [heads, N, N]")
        self.spec = spec
        self.blocks = blocks
        self.heads = heads
        self.kept = kept
        self.map = map
    }

    /// Kept blocks / `N^2` per head (kept real token pairs / `S^2` with partial edge blocks).
    public var density: [Double] {
        if !blocks.isUniform { return (0..<heads).map { keptKeyBlocks.density(head: $0) } }
        let nn = n * n
        return (0..<heads).map { h in Double(kept[(h * nn)..<((h + 1) * nn)].reduce(0) { $0 + Int($1) }) / Double(nn) }
    }

    /// Kept blocks / `heads * N^2`.
    public var overallDensity: Double {
        if !blocks.isUniform { return keptKeyBlocks.density }
        return Double(kept.reduce(0) { $0 + Int($1) }) / Double(max(heads * n * n, 1))
    }

    /// The rows the attention kernels take.
    public var keptKeyBlocks: KeptKeyBlocks { KeptKeyBlocks(kept: kept, heads: heads, blocks: blocks) }

    /// Makes the mask `spec` (whose block must be set) describes for `input`.
    ///
    /// `maps` caches pooled maps by block shape (one pooling per shape for both sides of
    /// a comparison); `otherDensity` is the per-head density a bare `topk` takes.
    /// - Throws: `NablaError.badGrid` when the block does not divide the grid; a mask
    ///   file's own errors (`MaskFile.read`).
    public static func make(_ spec: MaskSpec, input: QKInput, maps: inout [BlockShape: PooledMap],
                            otherDensity: [Double]? = nil) throws -> SpecifiedMask {
        guard let block = spec.block else { preconditionFailure("the spec's block must be set") }
        let blocks = try input.blockGrid(block)
        func map() throws -> PooledMap {
            if let m = maps[block] { return m }
            guard let m = try PooledMap.compute(input, block: block) else { preconditionFailure("uncancellable") }
            maps[block] = m
            return m
        }
        let n = blocks.count, heads = input.heads
        switch spec.kind {
        case .cut(let settings):
            let m = try map()
            return SpecifiedMask(spec: spec, blocks: blocks, heads: heads, kept: m.cut(settings).kept, map: m)
        case .sta(let window):
            let pattern = staPattern(blocks, window: window)
            return SpecifiedMask(spec: spec, blocks: blocks, heads: heads,
                                 kept: Array([[UInt8]](repeating: pattern, count: heads).joined()), map: nil)
        case .dense:
            return SpecifiedMask(spec: spec, blocks: blocks, heads: heads,
                                 kept: [UInt8](repeating: 1, count: heads * n * n), map: nil)
        case .topK(let density):
            let m = try map()
            let perHead = density.map { [Double](repeating: $0, count: heads) } ?? otherDensity
                ?? [Double](repeating: 1, count: heads)
            let counts = perHead.map { min(max(Int(($0 * Double(n)).rounded()), 1), n) }
            return SpecifiedMask(spec: spec, blocks: blocks, heads: heads, kept: topKRows(m, counts: counts), map: m)
        case .file(let path):
            return SpecifiedMask(spec: spec, blocks: blocks, heads: heads,
                                 kept: try MaskFile.read(path, heads: heads, blocks: blocks), map: nil)
        case .method(let m):
            let context = try MethodContext(input: input, blocks: blocks, map: maps[block])
            guard let kept = try m.method().kept(context) else { preconditionFailure("uncancellable") }
            if let made = context.pooledMapIfMade { maps[block] = made }
            return SpecifiedMask(spec: spec, blocks: blocks, heads: heads, kept: kept, map: context.pooledMapIfMade)
        }
    }

    /// Per head `h`, the `counts[h]` most probable key blocks of every row of `map`
    /// (ties to the higher index, as the cut keeps the highest index among equals).
    /// - Complexity: O(heads * N^2 log N).
    public static func topKRows(_ map: PooledMap, counts: [Int]) -> [UInt8] {
        let n = map.n
        var kept = [UInt8](repeating: 0, count: map.heads * n * n)
        for h in 0..<map.heads {
            for a in 0..<n {
                let base = (h * n + a) * n
                let order = (0..<n).sorted { x, y in
                    let px = map.probs[base + x], py = map.probs[base + y]
                    return px > py || (px == py && x > y)
                }
                for b in order.prefix(counts[h]) { kept[base + b] = 1 }
            }
        }
        return kept
    }
}

/// Block masks stored as `.npy` files: uint8 (or bool) `[heads, N, N]`, blocks raster over
/// the block grid, every query block keeping at least one key block (`nabla mask`'s
/// `mask.npy`, what `nabla attend --mask` and `nabla diff` take).
public enum MaskFile {
    /// Reads and checks a mask for `heads` heads on `blocks`.
    /// - Throws: `NablaError` naming the file and what does not fit: dtype, shape (with
    ///   the expected one and why), a value other than 0 or 1, a row keeping nothing.
    public static func read(_ path: String, heads: Int, blocks: BlockGrid) throws -> [UInt8] {
        try read(path, heads: heads, n: blocks.count,
                 why: "\(heads) heads, block grid \(blocks) of block \(blocks.block) on grid \(blocks.grid)")
    }

    /// Reads and checks a `[heads, n, n]` mask; `why` says where `n` comes from in the
    /// message of a shape that does not fit.
    /// - Throws: as `read(_:heads:blocks:)`.
    public static func read(_ path: String, heads: Int, n: Int, why: String) throws -> [UInt8] {
        let raw = try NPY.read(path: path)
        guard raw.dtype == .uint8 || raw.dtype == .bool else {
            throw NablaError(.unsupported, "\(path): mask dtype is \(raw.dtype); expected uint8 (or bool) [heads, N, N]")
        }
        guard raw.shape == [heads, n, n] else {
            let got = "[" + raw.shape.map(String.init).joined(separator: ", ") + "]"
            throw NablaError(.badShape, "\(path): mask of shape \(got) does not fit the input: expected [heads, N, N] = [\(heads), \(n), \(n)] (\(why))")
        }
        let values = raw.int64s()
        if let bad = values.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw NablaError(.badArgument, "\(path): mask value \(values[bad]) at [\(raw.multiIndex(ofFlat: bad).map(String.init).joined(separator: ", "))]; expected 0 or 1")
        }
        let kept = values.map { UInt8(truncatingIfNeeded: $0) }
        for row in 0..<(heads * n) where !kept[(row * n)..<((row + 1) * n)].contains(1) {
            throw NablaError(.badArgument, "\(path): head \(row / n), query block \(row % n) keeps no key block; every query block must keep at least one")
        }
        return kept
    }
}
