import Foundation

/// Radial Attention (Li et al., "Radial Attention: O(n log n) Sparse Attention with Energy
/// Decay for Long Video Generation", arXiv 2506.19852; mit-han-lab/radial-attention
/// `radial_attn/attn_mask.py`, `gen_log_mask_shrinked` with `model_type="hunyuan"`): a
/// static mask from the grid alone, whose spatial window shrinks as the temporal distance
/// grows.
///
/// Token level, for a query in frame `i` and a key in frame `j` at in-frame raster
/// positions `r_q`, `r_k` (`r = y * W + x`), `P = 2^bitlen(H * W)`, `g = bitlen(|i - j|)`:
/// - key frame 0 is kept whole (the attention sink);
/// - when `P / 2^g < B`, only frame distances `|i - j|` that are multiples of
///   `B / (P / 2^g)` keep anything (`get_diagonal_split_mask`);
/// - `|i - j| <= 1` is kept whole; otherwise the pair is kept when `|r_q - r_k| <= max(P / 2^g * decay_factor, B)`
///   (`get_window_width`).
/// `B` is the code's block size, 128 tokens of the 1-D sequence; here the tokens one block
/// holds in one frame, `bh * bw`.
/// Block level (`shrinkMaskStrict`), per frame pair and block pair: a key column is
/// *dense* when more than 1/3 of the block's queries keep it; the pair is kept when more
/// than 60% of the columns kept by any query are dense. A block spanning several frames
/// (`bt > 1`) is kept when any of its frame pairs is, as the code ORs frame pairs.
/// - Complexity: O(distinct windows * (2 Hb - 1)(2 Wb - 1) * (bh bw)^2 + N^2 bt^2).
public struct RadialMethod: SparseMethod {
    public static let name = "radial"
    public static let isStatic = true
    public static let parameters = [
        MethodParameter("decay-factor", .number(range: 0.001...1000, integer: false), default: "1",
                        help: "scale of the spatial window (radial-attention's decay_factor)"),
    ]
    public let decayFactor: Double

    public init(_ values: MethodValues) throws { decayFactor = try values.number(Self.parameters[0], method: Self.name) }
    public init(decayFactor: Double) { self.decayFactor = decayFactor }

    public var sweptValue: Double { decayFactor }
    public var parameterValues: [String: String] { ["decay-factor": "\(decayFactor)"] }

    public static func sweep(_ blocks: BlockGrid) -> [RadialMethod] {
        [1.0 / 64, 1.0 / 16, 1.0 / 4, 0.5, 1, 2, 4, 8, 16].map { RadialMethod(decayFactor: $0) }
    }

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        let pattern = Self.pattern(context.blocks, decayFactor: decayFactor)
        return Array([[UInt8]](repeating: pattern, count: context.heads).joined())
    }

    /// What a frame pair keeps at token level.
    enum FrameRule: Hashable {
        case all, none
        /// Keys within this in-frame raster distance.
        case window(Double)
    }

    /// The token-level rule of query frame `i`, key frame `j`.
    static func rule(_ i: Int, _ j: Int, tokensPerFrame: Int, blockTokens: Int, decayFactor: Double) -> FrameRule {
        let dist = abs(i - j)
        if j == 0 { return .all }
        let group = Double(dist.bitLength)
        let p = Double(tokensPerFrame.bitLength.exp2)
        let decay = p / pow(2, group)
        let threshold = Double(blockTokens)
        if decay < threshold {
            let split = Int(threshold / decay)
            if dist % split != 0 { return .none }
        }
        if dist <= 1 { return .all }
        return .window(max(decay * decayFactor, threshold))
    }

    /// The `[N, N]` mask of `blocks`. A partial edge block (`--edge pad`) takes part with
    /// its real frames and tokens only: the shrink counts its real queries and real key
    /// columns (the code's `B`, the rule's threshold, stays the whole block's `bh * bw`).
    public static func pattern(_ blocks: BlockGrid, decayFactor: Double) -> [UInt8] {
        let g = blocks.grid, bl = blocks.block, n = blocks.count
        let tileTokens = bl.bh * bl.bw
        var tables: [TileKey: Bool] = [:]
        func tile(_ key: TileKey) -> Bool {
            if let t = tables[key] { return t }
            let t = tileKept(key, block: bl, width: g.w)
            tables[key] = t
            return t
        }
        var out = [UInt8](repeating: 0, count: n * n)
        for a in 0..<n {
            let (ta, ia, ja) = blocks.coordinates(of: a), ea = blocks.extent(of: a)
            for b in 0..<n {
                let (tb, ib, jb) = blocks.coordinates(of: b), eb = blocks.extent(of: b)
                var keep = false
                frames: for fi in (ta * bl.bt)..<(ta * bl.bt + ea.ct) {
                    for fj in (tb * bl.bt)..<(tb * bl.bt + eb.ct) {
                        switch rule(fi, fj, tokensPerFrame: g.h * g.w, blockTokens: tileTokens, decayFactor: decayFactor) {
                        case .all: keep = true
                        case .none: continue
                        case .window(let w):
                            keep = tile(TileKey(window: w, di: ia - ib, dj: ja - jb, qh: ea.ch, qw: ea.cw, kh: eb.ch, kw: eb.cw))
                        }
                        if keep { break frames }
                    }
                }
                out[a * n + b] = keep ? 1 : 0
            }
        }
        return out
    }

    /// A tile pair of `tileKept`: the window, the query tile's offset `(di, dj)` in tiles
    /// from the key tile, and each tile's real extent (`bh x bw` unless at an edge).
    struct TileKey: Hashable {
        var window: Double
        var di: Int, dj: Int
        var qh: Int, qw: Int, kh: Int, kw: Int
    }

    /// `shrinkMaskStrict` on one tile pair: keys kept within raster distance `window`; a
    /// key column is dense when more than 1/3 of the tile's real queries keep it.
    static func tileKept(_ key: TileKey, block: BlockShape, width: Int) -> Bool {
        let bh = block.bh, bw = block.bw, queries = key.qh * key.qw
        var nonzero = 0, dense = 0
        for uk in 0..<key.kh {
            for vk in 0..<key.kw {
                var count = 0
                for uq in 0..<key.qh {
                    for vq in 0..<key.qw {
                        let delta = (key.di * bh + uq - uk) * width + (key.dj * bw + vq - vk)
                        if Double(abs(delta)) <= key.window { count += 1 }
                    }
                }
                if count > 0 { nonzero += 1 }
                if Double(count) / Double(queries) > 1.0 / 3 { dense += 1 }
            }
        }
        return Double(dense) / (Double(nonzero) + 1e-9) > 0.6
    }
}

private extension Int {
    /// `2^self`.
    var exp2: Int { 1 << self }
    /// Python's `int.bit_length()` of a non-negative number: bits needed, 0 for 0.
    var bitLength: Int { Int.bitWidth - leadingZeroBitCount }
}
