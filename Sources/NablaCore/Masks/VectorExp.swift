/// `e^x` for eight doubles at once, for the softmax of the pooled map (`x = logit - max`,
/// so `x <= 0`).
///
/// Range reduction `x = n ln2 + r` with `n = round(x / ln2)` and `|r| <= ln2 / 2`, the
/// product `n ln2` subtracted in two parts (Cody and Waite: `ln2Hi` has 32 trailing zero
/// bits, so `n * ln2Hi` is exact for `|n| < 2^20` and `x - n * ln2Hi` is exact by
/// Sterbenz's lemma); `e^r` by its Taylor polynomial of degree 13 in Horner form with
/// fused multiply-adds; `2^n` built in the exponent bits in two halves, so results in the
/// subnormal range are formed by one final rounding instead of being flushed.
/// The scheme of Cephes' `exp`, fdlibm's `__ieee754_exp` and Sleef's `xexp`.
///
/// Error: the truncated Taylor term is at most `r^14 / 14! < 4.2e-18` (`|r| <= 0.3466`),
/// under 6e-18 relative to `e^r >= 0.7`, below 0.06 ulp; Horner with FMA adds at most about one ulp
/// (the last step `1 + r * q` rounds once and `|r * q| < 0.42`); the reduction adds
/// `|n| * 2^-53 * ln2Lo`-sized terms, far below an ulp. So the result is within 2 ulp of
/// `e^x` for `-708 <= x <= 0` (the tests check against libm's `exp` to 2 ulp over the
/// range, and measure at most 1 ulp on 31 000 points), within one subnormal ulp below
/// that (the tests allow one subnormal ulp against libm), and exactly 0
/// for `x <= -746` and `-infinity`. `x = 0` gives exactly 1.
/// Inputs must be at most 0 plus a rounding error (`x <= 1` is fine); NaN is not
/// expected (Q and K are checked finite when read).
/// - Complexity: about 25 vector operations, no table, no branch, no libm call.
@inline(__always)
func expVector(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    let clamped = x.replacing(with: -746, where: x .< -746)
    // Adding 1.5 * 2^52 rounds to the nearest integer and leaves it in the low mantissa
    // bits, so no double-to-int conversion is needed.
    let magic = V(repeating: 6_755_399_441_055_744)
    let shifted = clamped * V(repeating: 1.4426950408889634) + magic
    let n = shifted - magic
    let r = (clamped - n * V(repeating: 6.93147180369123816490e-01)) - n * V(repeating: 1.90821492927058770002e-10)
    var p = V(repeating: 1.0 / 6_227_020_800)  // 1/13!
    p = V(repeating: 1.0 / 479_001_600).addingProduct(p, r)
    p = V(repeating: 1.0 / 39_916_800).addingProduct(p, r)
    p = V(repeating: 1.0 / 3_628_800).addingProduct(p, r)
    p = V(repeating: 1.0 / 362_880).addingProduct(p, r)
    p = V(repeating: 1.0 / 40_320).addingProduct(p, r)
    p = V(repeating: 1.0 / 5_040).addingProduct(p, r)
    p = V(repeating: 1.0 / 720).addingProduct(p, r)
    p = V(repeating: 1.0 / 120).addingProduct(p, r)
    p = V(repeating: 1.0 / 24).addingProduct(p, r)
    p = V(repeating: 1.0 / 6).addingProduct(p, r)
    p = V(repeating: 0.5).addingProduct(p, r)
    p = V(repeating: 1).addingProduct(p, r)
    p = V(repeating: 1).addingProduct(p, r)
    // 2^n as 2^h * 2^(n - h) with h = round(n / 2): both halves are normal numbers for
    // n >= -1077, and for a normal result both products are exact.
    let half = (n * V(repeating: 0.5) + magic) - magic
    let magicBits = SIMD8<Int64>(repeating: Int64(bitPattern: (6_755_399_441_055_744.0).bitPattern))
    let bias = SIMD8<Int64>(repeating: 1023)
    let hBits = (unsafeBitCast(half + magic, to: SIMD8<Int64>.self) &- magicBits &+ bias) &<< 52
    let restBits = (unsafeBitCast(shifted, to: SIMD8<Int64>.self) &- unsafeBitCast(half + magic, to: SIMD8<Int64>.self)
                    &+ bias) &<< 52
    return (p * unsafeBitCast(hBits, to: V.self)) * unsafeBitCast(restBits, to: V.self)
}
