/// How one head of the stand-in layer is made to behave: which RoPE sections carry a
/// shared bias direction, how strong it is, and the gain that sets the head's sharpness.
///
/// The bias `b_h` is added to both the normalised query and key before RoPE, so
/// `q.k` gains the term `g^2 * sum over pairs of |b_pair|^2 * cos(theta * offset)`, which
/// is largest at offset 0 along the sections that carry it: attention peaks at nearby
/// tokens (a positional head). Bias on every section makes a head local in space and
/// time; on the row and column sections only, local in space but spread over time; on
/// the time section only, local in time but spread over space; no bias leaves the head
/// driven by content (q and k projections are correlated, so similar patches attend to
/// each other). The gain multiplies q and k, so logits scale with its square: a larger
/// gain makes the head sharper and its NABLA mask sparser.
public struct HeadRecipe: Sendable, Equatable, CustomStringConvertible {
    /// The RoPE sections that carry the bias.
    public enum Bias: String, Sendable, CaseIterable {
        /// No bias: the head is content-driven.
        case none
        /// Time, rows and columns: local in space and time.
        case all
        /// Rows and columns: local in space, spread over time.
        case spatial
        /// Time: local in time, spread over space.
        case temporal
    }

    public var bias: Bias
    /// `beta`: the bias length in units of `sqrt(D)` (the length of an RMS-normalised vector).
    public var strength: Float
    /// `g`: multiplies q and k.
    public var gain: Float

    public init(bias: Bias, strength: Float, gain: Float) {
        self.bias = bias
        self.strength = bias == .none ? 0 : strength
        self.gain = gain
    }

    /// The eight recipes heads cycle through (head `h` uses `cycle[h % 8]`), ordered so
    /// that any first four already span sharp, broad, spatial and content heads.
    public static let cycle: [HeadRecipe] = [
        HeadRecipe(bias: .all, strength: 1.0, gain: 2.0),
        HeadRecipe(bias: .none, strength: 0, gain: 1.0),
        HeadRecipe(bias: .spatial, strength: 1.0, gain: 1.5),
        HeadRecipe(bias: .all, strength: 0.5, gain: 0.8),
        HeadRecipe(bias: .temporal, strength: 1.0, gain: 1.5),
        HeadRecipe(bias: .none, strength: 0, gain: 2.0),
        HeadRecipe(bias: .spatial, strength: 0.8, gain: 1.0),
        HeadRecipe(bias: .all, strength: 0.7, gain: 1.2),
    ]

    /// The recipe of head `h`.
    public static func recipe(head h: Int) -> HeadRecipe { cycle[h % cycle.count] }

    /// What the recipe makes of a head, in a few words.
    public var role: String {
        switch bias {
        case .none: "content-driven"
        case .all: "positional: local in space and time"
        case .spatial: "local in space, spread over time"
        case .temporal: "local in time, spread over space"
        }
    }

    public var description: String {
        bias == .none ? "\(role), gain \(gain)" : "\(role), bias \(strength), gain \(gain)"
    }
}
