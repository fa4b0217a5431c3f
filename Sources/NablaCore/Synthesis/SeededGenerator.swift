/// SplitMix64: a small, fast, seeded generator whose stream is the same on every
/// platform, so every synthesised tensor is reproducible from its seed.
///
/// Normal deviates use the Irwin–Hall sum of 12 uniforms minus 6 (mean 0, variance 1,
/// tails cut at 6 sigma): plain additions, no `log`/`cos`, so the stream does not depend
/// on the platform's math library.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    /// A generator for `seed`, on an independent `stream` (one per use: weights of Q, of
    /// K, biases, scene texture...), so changing how many numbers one use draws does not
    /// shift the others.
    init(seed: UInt64, stream: UInt64 = 0) {
        state = SeededGenerator.mix(seed ^ SeededGenerator.mix(stream &+ 0x5151_5EED))
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededGenerator.mix(state)
    }

    /// The SplitMix64 output function (a bijective 64-bit mixer).
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Approximately standard normal (Irwin–Hall, 12 uniforms).
    mutating func gaussian() -> Double {
        var s = 0.0
        for _ in 0..<12 { s += uniform() }
        return s - 6
    }

    /// `count` approximately normal values with standard deviation `scale`, as `Float`.
    mutating func gaussians(_ count: Int, scale: Double = 1) -> [Float] {
        (0..<count).map { _ in Float(gaussian() * scale) }
    }
}
