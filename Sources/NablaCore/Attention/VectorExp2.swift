/// `2^x` for sixteen floats at once, for the softmax of the attention kernels.
///
/// Range reduction `x = n + f` with `n = round(x)` and `f` in `[-0.5, 0.5]`; `2^f` by a
/// degree-6 polynomial fitted (weighted least squares on the relative error, 20 001 points
/// of `[-0.5, 0.5]`) to `2^f`, maximum relative error 4.4e-9 in exact arithmetic, so the
/// float32 result is within a few ulp of `exp2`; `2^n` is built in the exponent bits.
/// The scheme of Cephes' `exp2f`, and of the vectorised exp in PyTorch's
/// `aten/src/ATen/native/cpu/FlashAttentionKernel.cpp` (via Sleef) and llama.cpp's
/// `ggml_v_expf`.
///
/// Inputs at or below -127 (and `-infinity`) give exactly 0, which the kernels use for
/// masked scores; inputs must be at most 127 (the kernels only pass `score - max <= 0`).
/// NaN inputs are not expected (Q, K and V are checked finite when read).
/// - Complexity: 13 vector operations, no table, no branch, no libm call.
@inline(__always)
func exp2Vector(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let clamped = x.replacing(with: -127, where: x .< -127)
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa
    // bits, so no float-to-int conversion is needed.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let shifted = clamped + magic
    let n = shifted - magic
    let f = clamped - n
    var p = SIMD16<Float>(repeating: 1.5332501431705733e-04)
    p = SIMD16<Float>(repeating: 1.3394706614725915e-03).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 9.618491070847777e-03).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 5.550342272182957e-02).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 2.4022647363573257e-01).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 6.931471992121055e-01).addingProduct(p, f)
    p = SIMD16<Float>(repeating: 1.0000000004121687).addingProduct(p, f)
    // 2^n in the exponent field; n = -127 gives the bit pattern 0, that is exactly 0.
    let k = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- SIMD16<Int32>(repeating: 0x4B40_0000)
    let bits = (k &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: SIMD16<Float>.self)
}

/// The lane-wise larger of `a` and `b` as a compare and a blend (the standard library's
/// `pointwiseMax` follows IEEE `maximum` with NaN rules and compiles to a per-lane loop).
/// Inputs are never NaN here.
@inline(__always)
func laneMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    a.replacing(with: b, where: b .> a)
}

/// The largest lane of `v`, by halving (three shuffles and blends, then one compare).
@inline(__always)
func horizontalMax(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
    let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
    return c[1] > c[0] ? c[1] : c[0]
}

/// The sum of the lanes of `v`, by halving (a fixed order, so results are reproducible).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}
