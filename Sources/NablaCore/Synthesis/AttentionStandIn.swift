import Foundation

/// A transparent stand-in for the self-attention input of a video DiT: from a latent's
/// patch tokens to per-head Q, K and V, the way such a layer computes them, with seeded
/// weights instead of trained ones.
///
/// For the patch vector `p` (`F = C * pt * ph * pw` values of the standardised latent)
/// of the token at `(t, y, x)`, and head `h` with recipe `(bias, beta_h, g_h)`:
///
///     q_h = RoPE3D(t, y, x; g_h * (RMSNorm(W_q p)_h + b_h))
///     k_h = RoPE3D(t, y, x; g_h * (RMSNorm(W_k p)_h + b_h))
///     v_h = (W_v p)_h
///
/// - `W_q`, `W_v` have entries `N(0, 1/F)` from `seed`; `W_k = 0.8 W_q + 0.6 W'` with
///   `W'` like `W_q`, so q.k measures how alike two patches are (as trained heads
///   often do) instead of being unrelated noise.
/// - `RMSNorm(x)_h = x_h / sqrt(mean(x_h^2) + 1e-6)` over the head's `D` values (unit
///   weight), as Wan and Kandinsky 5 normalise q and k per head.
/// - `b_h = beta_h * sqrt(D) * u_h` with `u_h` a seeded unit direction that is zero
///   outside the RoPE sections the recipe names (`HeadRecipe`); shared by q and k.
/// - `RoPE3D` is `RotaryEmbedding3D` (D split across time, rows and columns).
///
/// Q, K and V are `[heads, S, D]` in raster token order.
public struct AttentionStandIn: Sendable {
    public let options: SynthesisOptions
    /// `F`, the length of a patch vector.
    public let features: Int
    public let rope: RotaryEmbedding3D
    /// One recipe per head.
    public let recipes: [HeadRecipe]
    /// `[F, 3 * heads * D]`: row `f` holds row `f` of `W_q`, then of `W_k`, then of `W_v`
    /// (output columns `h * D + j` within each).
    let weights: [Float]
    /// `[heads, D]`: `b_h`, zero for content heads.
    public let biases: [Float]

    /// The layer for patch vectors of `features` values.
    /// - Throws: `NablaError.badArgument` when the options are out of range.
    public init(features: Int, options: SynthesisOptions) throws {
        try options.validate()
        precondition(features > 0, "patch vectors must not be empty")
        self.options = options
        self.features = features
        rope = try RotaryEmbedding3D(headDim: options.headDim)
        let heads = options.heads, d = options.headDim, hd = heads * d
        recipes = (0..<heads).map(HeadRecipe.recipe(head:))

        let scale = 1 / Double(features).squareRoot()
        var gq = SeededGenerator(seed: options.seed, stream: 1)
        var gk = SeededGenerator(seed: options.seed, stream: 2)
        var gv = SeededGenerator(seed: options.seed, stream: 3)
        let wq = gq.gaussians(features * hd, scale: scale)
        let wk2 = gk.gaussians(features * hd, scale: scale)
        let wv = gv.gaussians(features * hd, scale: scale)
        var w = [Float](repeating: 0, count: features * 3 * hd)
        for f in 0..<features {
            for o in 0..<hd {
                let i = f * hd + o
                w[f * 3 * hd + o] = wq[i]
                w[f * 3 * hd + hd + o] = 0.8 * wq[i] + 0.6 * wk2[i]
                w[f * 3 * hd + 2 * hd + o] = wv[i]
            }
        }
        weights = w

        var gb = SeededGenerator(seed: options.seed, stream: 4)
        var b = [Float](repeating: 0, count: hd)
        let rope = self.rope
        for h in 0..<heads {
            let u = gb.gaussians(d)
            let recipe = recipes[h]
            guard recipe.bias != .none else { continue }
            var kept = [Float](repeating: 0, count: d)
            for j in 0..<d {
                let axis = rope.frequency(pair: j / 2).axis
                let on = switch recipe.bias {
                case .none: false
                case .all: true
                case .spatial: axis != 0
                case .temporal: axis == 0
                }
                if on { kept[j] = u[j] }
            }
            let norm = kept.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let length = Double(recipe.strength) * Double(d).squareRoot()
            for j in 0..<d where norm > 0 { b[h * d + j] = Float(Double(kept[j]) / norm * length) }
        }
        biases = b
    }

    /// Q, K and V of `tokens`, each `[heads, S, D]` in raster token order.
    /// - Complexity: O(S * F * 3 * heads * D), token chunks in parallel.
    public func project(_ tokens: PatchTokens) -> (q: HeadTokens, k: HeadTokens, v: HeadTokens) {
        precondition(tokens.features == features, "patch vectors must have the layer's length")
        let heads = options.heads, d = options.headDim, hd = heads * d, width = 3 * hd
        let s = tokens.grid.tokens, f = features, grid = tokens.grid
        let qs = FloatStorage(count: heads * s * d), ks = FloatStorage(count: heads * s * d), vs = FloatStorage(count: heads * s * d)
        let table = rope.table(for: grid)
        let gains = recipes.map(\.gain)
        let (qo, ko, vo) = (qs.buffer.baseAddress!, ks.buffer.baseAddress!, vs.buffer.baseAddress!)
        let outputs = UncheckedSendable((qo, ko, vo))
        let chunks = Parallel.chunks(s, minChunk: 64)
        tokens.values.withUnsafeBufferPointer { xb in
            weights.withUnsafeBufferPointer { wb in
                biases.withUnsafeBufferPointer { bb in
                    table.cos.withUnsafeBufferPointer { cb in
                        table.sin.withUnsafeBufferPointer { sb in
                            Parallel.forEach(chunks.count) { item in
                                let (qo, ko, vo) = outputs.value
                                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 4 * width)
                                defer { scratch.deallocate() }
                                let x = xb.baseAddress!, w = wb.baseAddress!
                                var r = chunks[item].lowerBound
                                while r < chunks[item].upperBound {
                                    let rows = min(4, chunks[item].upperBound - r)
                                    AttentionStandIn.multiply(x + r * f, rows: rows, features: f, weights: w, width: width, into: scratch)
                                    for i in 0..<rows {
                                        let token = r + i
                                        let t = token / (grid.h * grid.w), y = (token / grid.w) % grid.h, xx = token % grid.w
                                        let row = scratch + i * width
                                        for h in 0..<heads {
                                            let at = (h * s + token) * d
                                            let bias = bb.baseAddress! + h * d
                                            AttentionStandIn.normalize(row + h * d, count: d, bias: bias, gain: gains[h], into: qo + at)
                                            rope.rotate(qo + at, t: t, y: y, x: xx, table: table, cos: cb.baseAddress!, sin: sb.baseAddress!)
                                            AttentionStandIn.normalize(row + hd + h * d, count: d, bias: bias, gain: gains[h], into: ko + at)
                                            rope.rotate(ko + at, t: t, y: y, x: xx, table: table, cos: cb.baseAddress!, sin: sb.baseAddress!)
                                            (vo + at).update(from: row + 2 * hd + h * d, count: d)
                                        }
                                    }
                                    r += rows
                                }
                            }
                        }
                    }
                }
            }
        }
        return (HeadTokens(storage: qs, heads: heads, tokens: s, headDim: d),
                HeadTokens(storage: ks, heads: heads, tokens: s, headDim: d),
                HeadTokens(storage: vs, heads: heads, tokens: s, headDim: d))
    }

    /// `out[i, :] = sum over f of x[i, f] * w[f, :]` for `rows <= 4` rows of `x`.
    ///
    /// Plain loops over pointers: the compiler vectorises the inner loop over the
    /// output columns in release builds (as fast as hand-written `SIMD16` here, measured),
    /// and they stay usable in debug builds, where SIMD types are an order of magnitude
    /// slower than scalar code; tests and `nabla sample` run this in debug.
    /// - Complexity: O(rows * features * width).
    @inline(__always)
    static func multiply(_ x: UnsafePointer<Float>, rows: Int, features: Int, weights w: UnsafePointer<Float>,
                         width: Int, into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: rows * width)
        if rows == 4 {
            let o0 = out, o1 = out + width, o2 = out + 2 * width, o3 = out + 3 * width
            for f in 0..<features {
                let a0 = x[f], a1 = x[features + f], a2 = x[2 * features + f], a3 = x[3 * features + f]
                let wr = w + f * width
                var o = 0
                while o < width {
                    let v = wr[o]
                    o0[o] += a0 * v
                    o1[o] += a1 * v
                    o2[o] += a2 * v
                    o3[o] += a3 * v
                    o += 1
                }
            }
        } else {
            for i in 0..<rows {
                let orow = out + i * width
                for f in 0..<features {
                    let a = x[i * features + f]
                    let wr = w + f * width
                    var o = 0
                    while o < width {
                        orow[o] += a * wr[o]
                        o += 1
                    }
                }
            }
        }
    }

    /// `out = gain * (x / sqrt(mean(x^2) + 1e-6) + bias)` over `count` values.
    @inline(__always)
    static func normalize(_ x: UnsafePointer<Float>, count: Int, bias: UnsafePointer<Float>, gain: Float,
                          into out: UnsafeMutablePointer<Float>) {
        var sq: Float = 0
        var j = 0
        while j < count {
            sq += x[j] * x[j]
            j += 1
        }
        let inv = 1 / (sq / Float(count) + 1e-6).squareRoot()
        j = 0
        while j < count {
            out[j] = gain * (x[j] * inv + bias[j])
            j += 1
        }
    }

    /// Q, K and V for `latent` (standardised per channel, then patchified).
    ///
    /// `preview` defaults to the first principal component of the latent's channels.
    /// - Throws: `NablaError.badGrid` when the patch does not divide the latent,
    ///   `.badArgument` for options out of range.
    public static func input(from latent: VideoLatent, options: SynthesisOptions = SynthesisOptions(),
                             name: String? = nil, preview: VideoPreview? = nil) throws -> QKInput {
        try options.validate()
        let standard = latent.standardized()
        let tokens = try standard.patchify(options.patch)
        let layer = try AttentionStandIn(features: tokens.features, options: options)
        let (q, k, v) = layer.project(tokens)
        let shown = try preview ?? VideoPreview.principalComponent(of: standard, patch: options.patch)
        return QKInput(name: name ?? latent.name, q: q, k: k, v: v, grid: tokens.grid, order: .raster, preview: shown)
    }
}
