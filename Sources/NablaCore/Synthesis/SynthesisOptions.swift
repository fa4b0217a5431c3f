/// The settings of the stand-in attention layer that turns a latent into Q, K and V:
/// heads, head dimension, patch and seed (`--heads`, `--head-dim`, `--patch`, `--seed`).
public struct SynthesisOptions: Sendable, Equatable {
    public var heads: Int
    public var headDim: Int
    public var patch: PatchShape
    /// Seeds the projections and bias directions (the same seed gives the same Q/K/V).
    public var seed: UInt64

    public init(heads: Int = 8, headDim: Int = 64, patch: PatchShape = .standard, seed: UInt64 = 0) {
        self.heads = heads
        self.headDim = headDim
        self.patch = patch
        self.seed = seed
    }

    /// The most heads the stand-in makes.
    public static let maxHeads = 256
    /// The largest head dimension the stand-in makes.
    public static let maxHeadDim = 1024

    /// - Throws: `NablaError.badArgument` naming the option and its value when heads or
    ///   the head dimension is out of range (the head dimension must be even and >= 6).
    public func validate() throws {
        guard (1...SynthesisOptions.maxHeads).contains(heads) else {
            throw NablaError(.badArgument, "\(setting: .heads, String(heads)) is outside 1...\(SynthesisOptions.maxHeads)")
        }
        guard headDim <= SynthesisOptions.maxHeadDim else {
            throw NablaError(.badArgument, "\(setting: .headDim, String(headDim)) is above \(SynthesisOptions.maxHeadDim)")
        }
        _ = try RotaryEmbedding3D(headDim: headDim)
    }

    /// The options as command-line flags, e.g. `--heads 8 --head-dim 64 --patch 1x2x2 --seed 0`.
    public var flags: String {
        "--heads \(heads) --head-dim \(headDim) --patch \(patch) --seed \(seed)"
    }
}
