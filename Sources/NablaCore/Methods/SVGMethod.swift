import Foundation

/// Sparse VideoGen (Xi et al., arXiv 2502.01776; svg-project/Sparse-VideoGen
/// `svg/models/wan/attention.py` `sample_mse` and `attention_core_logic`,
/// `svg/models/wan/utils.py` `get_attention_mask`): every head is either a *spatial*
/// head, attending to the tokens of nearby frames, or a *temporal* head, attending to the
/// same few spatial positions in every frame; which one is chosen per head by sampling
/// query rows and comparing each mask's output with dense attention.
///
/// On the block grid, with `P` blocks per frame slab and band `w = max(1, floor(width * P))`:
/// - spatial: key block `b` is kept for query block `a` when `|a - b| < w` (raster
///   numbering is frame-major, so this is the code's band of `1.5 * frame_size` tokens
///   for `width = 1.5`);
/// - temporal: the same band in the transposed order `p = (i * Wb + j) * Tb + t`
///   (spatial position major), the code's `reshape(frame_size, num_frame, ...)
///   .permute(1, 0, 3, 2)` of the spatial mask; both masks keep the same count.
/// - Choice: `samples` query tokens drawn uniformly with replacement (`torch.randint`;
///   here SplitMix64 with a fixed seed, so the mask is reproducible), their attention
///   output under each mask against the dense one, mean squared error over the rows and
///   `D`; the smaller wins (spatial on a tie, as `argmin` takes the first). Without V the
///   attention mass each mask drops from the sampled rows is compared instead.
/// - Partial edge blocks (`--edge pad`): rows are sampled among the real tokens and every
///   token's weight goes to the block holding it (`MethodContext.blockOfToken`).
/// - Complexity: `O(samples * S * D)` per head.
public struct SVGMethod: SparseMethod {
    public static let name = "svg"
    public static let parameters = [
        MethodParameter("width", .number(range: 0...100_000, integer: false), default: "1.5",
                        help: "band width in frame slabs (Sparse VideoGen's 1.5 frames)"),
        MethodParameter("samples", .number(range: 1...65_536, integer: true), default: "32",
                        help: "query rows sampled to choose each head's mask (num_sampled_rows)"),
    ]
    public let width: Double
    public let samples: Int

    public init(_ values: MethodValues) throws {
        width = try values.number(Self.parameters[0], method: Self.name)
        samples = Int(try values.number(Self.parameters[1], method: Self.name))
    }

    public init(width: Double, samples: Int = 32) {
        self.width = width
        self.samples = samples
    }

    public var sweptValue: Double { width }
    public var parameterValues: [String: String] { ["width": "\(width)", "samples": "\(samples)"] }

    /// Widths whose bands keep about 2% to 60% of the block pairs (`2f - f^2` for a band
    /// of `f` of the slabs).
    public static func sweep(_ blocks: BlockGrid) -> [SVGMethod] {
        [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.37].map { SVGMethod(width: $0 * Double(blocks.tb)) }
    }

    /// Band half-width in blocks.
    static func band(_ width: Double, _ blocks: BlockGrid) -> Int {
        max(1, Int((width * Double(blocks.blocksPerSlab) + 1e-9).rounded(.down)))
    }

    /// The position of each block in the spatial (raster) or temporal (transposed) order.
    static func positions(_ blocks: BlockGrid, temporal: Bool) -> [Int] {
        (0..<blocks.count).map { a in
            guard temporal else { return a }
            let (t, i, j) = blocks.coordinates(of: a)
            return (i * blocks.wb + j) * blocks.tb + t
        }
    }

    /// The spatial (`temporal: false`) or temporal `[N, N]` band mask.
    public static func pattern(_ blocks: BlockGrid, width: Double, temporal: Bool) -> [UInt8] {
        let n = blocks.count, w = band(width, blocks), p = positions(blocks, temporal: temporal)
        var out = [UInt8](repeating: 0, count: n * n)
        for a in 0..<n { for b in 0..<n where abs(p[a] - p[b]) < w { out[a * n + b] = 1 } }
        return out
    }

    /// The sampled query tokens (block-order positions) of the head with tensor index `h`
    /// (the stream is the tensor index, not the slot, so that a head selected alone, as
    /// the app's methods view runs it, samples the same rows as in the whole input).
    static func sampledRows(tokens: Int, samples: Int, head h: Int) -> [Int] {
        var rng = SeededGenerator(seed: 0x5F6_2025, stream: UInt64(h))
        return (0..<samples).map { _ in Int(rng.next() % UInt64(tokens)) }
    }

    /// Per head, `true` when the temporal mask wins.
    public func choices(_ context: MethodContext, spatial: [UInt8], temporal: [UInt8]) -> [Bool]? {
        (0..<context.heads).map { h in
            let errors = Self.sampledErrors(context, head: h, samples: samples, masks: [spatial, temporal])
            return errors[1] < errors[0]
        }
    }

    /// Each mask's error on the sampled rows of head `h`: output MSE against dense with V,
    /// else the mean attention mass dropped.
    static func sampledErrors(_ context: MethodContext, head h: Int, samples: Int, masks: [[UInt8]]) -> [Double] {
        // Token positions in block order over the kept tokens; `owner` maps each to its
        // block (partial edge blocks hold fewer than `B`).
        let d = context.input.headDim, s = context.blocks.keptTokens, owner = context.blockOfToken, n = context.n
        let values = context.input.v != nil
        let width = values ? n * (1 + d) : n
        let rows = sampledRows(tokens: s, samples: samples, head: context.input.headIndices[h])
        // Per sampled row: the softmax weight on each key block (relative to the row's
        // largest logit), then with V the weighted sums of V per block; made once per head.
        guard let sums = context.scores("svg rows \(h) \(samples)", make: {
            let q = context.tokens("q", head: h), k = context.tokens("k", head: h)
            let v = values ? context.tokens("v", head: h) : []
            let scale = 1 / Double(d).squareRoot()
            var out = [Double](repeating: 0, count: rows.count * width)
            var weights = [Double](repeating: 0, count: s)
            for (r, row) in rows.enumerated() {
                var top = -Double.infinity
                q.withUnsafeBufferPointer { qp in
                    k.withUnsafeBufferPointer { kp in
                        for j in 0..<s {
                            weights[j] = Double(methodDot(qp.baseAddress! + row * d, kp.baseAddress! + j * d, d)) * scale
                            top = max(top, weights[j])
                        }
                    }
                }
                for j in 0..<s {
                    let e = Foundation.exp(weights[j] - top)
                    let blk = Int(owner[j])
                    out[r * width + blk] += e
                    if values { for c in 0..<d { out[r * width + n + blk * d + c] += e * Double(v[j * d + c]) } }
                }
            }
            return out
        }) else { return masks.map { _ in .infinity } }
        var errors = [Double](repeating: 0, count: masks.count)
        for (r, row) in rows.enumerated() {
            let a = Int(owner[row]), base = r * width
            func output(_ keep: (Int) -> Bool) -> (mass: Double, out: [Double]) {
                var mass = 0.0
                var out = [Double](repeating: 0, count: values ? d : 0)
                for blk in 0..<n where keep(blk) {
                    mass += sums[base + blk]
                    if values { for c in 0..<d { out[c] += sums[base + n + blk * d + c] } }
                }
                return (mass, out.map { $0 / mass })
            }
            let dense = output { _ in true }
            for (m, mask) in masks.enumerated() {
                let part = output { mask[a * n + $0] != 0 }
                if values {
                    errors[m] += zip(part.out, dense.out).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(d)
                } else {
                    errors[m] += 1 - part.mass / dense.mass
                }
            }
        }
        return errors.map { $0 / Double(max(samples, 1)) }
    }

    public func kept(_ context: MethodContext) throws -> [UInt8]? {
        let spatial = Self.pattern(context.blocks, width: width, temporal: false)
        let temporal = Self.pattern(context.blocks, width: width, temporal: true)
        guard let choice = choices(context, spatial: spatial, temporal: temporal), !context.isCancelled() else { return nil }
        return Array(choice.map { $0 ? temporal : spatial }.joined())
    }
}
