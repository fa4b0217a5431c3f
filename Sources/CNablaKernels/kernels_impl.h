// The kernels of one instruction-set level. Included once per level by kernels_x86.c and
// kernels_arm64.c with these macros defined (no include guard on purpose); it undefines
// them at its end, so the next level defines its own:
//   NK(name)   the level's name for `name` (name##_avx2, ...)
//   VF, VD     floats, doubles per vector register
//   NK_FMA     1 when multiply-add is fused (one rounding), 0 for baseline SSE2
//   ATT_NV     vectors per row of the 4-row score and P.V tiles (4 x ATT_NV accumulators)
//   MAP_MR     rows of the pooled map's dot tile, MAP_NV vectors per row (MAP_MR x MAP_NV accumulators)
//   POOL_NV8   groups of 8 doubles summed at once by pooling
//   NK_F16C    1 when F16C converts float16 (x86 AVX2 and above)
//   NK_SCALEF  1 when exp2v builds 2^n with VSCALEFPS (x86 AVX-512)
//   NK_LEVEL, NK_NAME  the nabla_isa value and name
// Floating-point contraction is off in the including file, so `a * b + c` rounds twice
// and only FMAF fuses: the results do not depend on what the compiler chooses to fuse.

#define vf NK(vf)
#define vd NK(vd)
#define vi NK(vi)
#define vl NK(vl)
typedef float vf __attribute__((vector_size(VF * 4), aligned(4)));
typedef double vd __attribute__((vector_size(VD * 8), aligned(8)));
typedef int32_t vi __attribute__((vector_size(VF * 4), aligned(4)));
typedef int64_t vl __attribute__((vector_size(VD * 8), aligned(8)));

#if NK_FMA
#define FMAF(a, b, c) __builtin_elementwise_fma((a), (b), (c))
#else
#define FMAF(a, b, c) ((a) * (b) + (c))
#endif
// A scalar in every lane: `s - 0` is `s` for every float (also -0), so the subtraction folds
// away and leaves a plain broadcast (`0 + s` would not fold: it turns -0 into +0).
#define SPLATF(s) ((float)(s) - (vf){0})
#define SPLATD(s) ((double)(s) - (vd){0})
#define LOADF(ptr) (*(const vf *)(const void *)(ptr))
#define STOREF(ptr, x) (*(vf *)(void *)(ptr) = (x))
#define LOADD(ptr) (*(const vd *)(const void *)(ptr))
#define STORED(ptr, x) (*(vd *)(void *)(ptr) = (x))

/// `mask ? b : a` lane by lane (a blend; no NaN rules).
static inline __attribute__((always_inline)) vf NK(self)(vi mask, vf a, vf b) {
    return (vf)(((vi)a & ~mask) | ((vi)b & mask));
}
static inline __attribute__((always_inline)) vd NK(seld)(vl mask, vd a, vd b) {
    return (vd)(((vl)a & ~mask) | ((vl)b & mask));
}

/// 2^x for VF floats: x = n + f, n = round(x) by the 1.5 * 2^23 trick, 2^f by a degree-5
/// polynomial on |f| <= 1/2 with constant term exactly 1 (so 2^0 = 1 exactly): coefficients
/// fitted here for the least maximum relative error (9.1e-8 in exact arithmetic, 1.4 ulp
/// of float = 1.7e-7 evaluated in float with FMA), 2^n in the exponent bits. Inputs at or
/// below -127 (and -inf) give exactly 0. Cephes' exp2f scheme, one term shorter (its
/// degree-6 polynomial had 4.4e-9 in exact arithmetic, beyond float's rounding anyway).
/// With NK_SCALEF (AVX-512): n by VRNDSCALEPS and 2^f * 2^n by VSCALEFPS, the same n, f and
/// polynomial in three fewer instructions; results below 2^-126 come out subnormal (as
/// exact 2^x rounds them) instead of 0, and inputs at or below -150 give exactly 0.
static inline __attribute__((always_inline)) vf NK(exp2v)(vf x) {
#if NK_SCALEF
    x = __builtin_elementwise_max(x, SPLATF(-150.0f));  // -inf and NaN-free inputs: one max
    vf n = (vf)_mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
    x = __builtin_elementwise_max(x, SPLATF(-127.0f));  // -inf and NaN-free inputs: one max
    vf magic = SPLATF(12582912.0f);
    vf shifted = x + magic;
    vf n = shifted - magic;
#endif
    vf f = x - n;
    vf p = SPLATF(1.326472731e-03f);
    p = FMAF(p, f, SPLATF(9.671512991e-03f));
    p = FMAF(p, f, SPLATF(5.550733581e-02f));
    p = FMAF(p, f, SPLATF(2.402224243e-01f));
    p = FMAF(p, f, SPLATF(6.931470037e-01f));
    p = FMAF(p, f, SPLATF(1.0f));
#if NK_SCALEF
    return (vf)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
    vi k = (vi)shifted - 0x4B400000;
    vi bits = (k + 127) << 23;
    return p * (vf)bits;
#endif
}

/// e^x for VD doubles, x <= 0: Cody-Waite reduction by ln 2 in two parts, Taylor degree 13
/// in Horner form, 2^n built in two halves (so subnormal results round once). Within 2 ulp
/// of libm's exp on [-708, 0]; 0 at or below -746; exactly 1 at 0. Cephes / fdlibm / Sleef.
static inline __attribute__((always_inline)) vd NK(expv)(vd x) {
    vd lo = SPLATD(-746.0);
    vd c = NK(seld)(x < lo, x, lo);
    vd magic = SPLATD(6755399441055744.0);
    vd shifted = c * SPLATD(1.4426950408889634) + magic;
    vd n = shifted - magic;
    vd r = (c - n * SPLATD(6.93147180369123816490e-01)) - n * SPLATD(1.90821492927058770002e-10);
    vd p = SPLATD(1.0 / 6227020800.0);
    p = FMAF(p, r, SPLATD(1.0 / 479001600.0));
    p = FMAF(p, r, SPLATD(1.0 / 39916800.0));
    p = FMAF(p, r, SPLATD(1.0 / 3628800.0));
    p = FMAF(p, r, SPLATD(1.0 / 362880.0));
    p = FMAF(p, r, SPLATD(1.0 / 40320.0));
    p = FMAF(p, r, SPLATD(1.0 / 5040.0));
    p = FMAF(p, r, SPLATD(1.0 / 720.0));
    p = FMAF(p, r, SPLATD(1.0 / 120.0));
    p = FMAF(p, r, SPLATD(1.0 / 24.0));
    p = FMAF(p, r, SPLATD(1.0 / 6.0));
    p = FMAF(p, r, SPLATD(0.5));
    p = FMAF(p, r, SPLATD(1.0));
    p = FMAF(p, r, SPLATD(1.0));
    vd half = (n * SPLATD(0.5) + magic) - magic;
    vl magicBits = (vl){0} + (int64_t)0x4338000000000000LL;
    vl bias = (vl){0} + (int64_t)1023;
    vl hb = (vl)(half + magic);
    vl hBits = (hb - magicBits + bias) << 52;
    vl restBits = ((vl)shifted - hb + bias) << 52;
    return (p * (vd)hBits) * (vd)restBits;
}

// Lane swaps for the horizontal reductions: lane i meets lane i + w (w = VF/2, ..., 1),
// in registers. The sum's order is a fixed halving tree (the same at every call).
#if VF == 16
#define NK_SWAP8(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)
#endif
#if VF >= 8
#define NK_SWAP4(v) __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3 NK_REST8)
#endif
#define NK_SWAP2(v) __builtin_shufflevector(v, v, 2, 3, 0, 1 NK_REST4)
#define NK_SWAP1(v) __builtin_shufflevector(v, v, 1, 0, 3, 2 NK_REST4)
#if VF == 16
#define NK_REST8 , 12, 13, 14, 15, 8, 9, 10, 11
#define NK_REST4 , 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13
#elif VF == 8
#define NK_REST8
#define NK_REST4 , 6, 7, 4, 5
#else
#define NK_REST8
#define NK_REST4
#endif

/// The largest lane of `v` (no NaN expected).
static inline __attribute__((always_inline)) float NK(hmax)(vf v) {
#if VF == 16
    v = NK(self)(NK_SWAP8(v) > v, v, NK_SWAP8(v));
#endif
#if VF >= 8
    v = NK(self)(NK_SWAP4(v) > v, v, NK_SWAP4(v));
#endif
    v = NK(self)(NK_SWAP2(v) > v, v, NK_SWAP2(v));
    v = NK(self)(NK_SWAP1(v) > v, v, NK_SWAP1(v));
    return v[0];
}

/// The lanes of `v` summed pairwise by halving (a fixed order).
static inline __attribute__((always_inline)) float NK(hsum)(vf v) {
#if VF == 16
    v = v + NK_SWAP8(v);
#endif
#if VF >= 8
    v = v + NK_SWAP4(v);
#endif
    v = v + NK_SWAP2(v);
    v = v + NK_SWAP1(v);
    return v[0];
}

// MARK: - Attention (kernels_attn.h: score and P.V tiles, the online softmax)

#include "kernels_attn.h"

// MARK: - Pooled map

#define MAP_PANEL (MAP_NV * VD)

static void NK(map_pack_keys)(const double *ka, int32_t n, int32_t d, double *out) {
    const int panels = (n + MAP_PANEL - 1) / MAP_PANEL;
    for (int pn = 0; pn < panels; pn++)
        for (int j = 0; j < d; j++)
            for (int c = 0; c < MAP_PANEL; c++) {
                const int key = pn * MAP_PANEL + c;
                out[((size_t)pn * d + j) * MAP_PANEL + c] = key < n ? ka[(size_t)key * d + j] : 0;
            }
}

/// out[i * stride + c] = sum_j qT[j, i] * panel[j, c] for MAP_MR rows and one panel, each
/// sum in j order with one multiply-add per step.
static inline __attribute__((always_inline)) void NK(dot_tile)(const double *qT, int d, const double *panel,
                                                            double *out, int stride) {
    vd c[MAP_MR][MAP_NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < MAP_MR; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < MAP_NV; g++) c[r][g] = (vd){0};
    for (int j = 0; j < d; j++) {
        vd k[MAP_NV];
#pragma clang loop unroll(full)
        for (int g = 0; g < MAP_NV; g++) k[g] = LOADD(panel + (size_t)j * MAP_PANEL + g * VD);
#pragma clang loop unroll(full)
        for (int r = 0; r < MAP_MR; r++) {
            vd a = SPLATD(qT[j * MAP_MR + r]);
#pragma clang loop unroll(full)
            for (int g = 0; g < MAP_NV; g++) c[r][g] = FMAF(a, k[g], c[r][g]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < MAP_MR; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < MAP_NV; g++) STORED(out + (size_t)r * stride + g * VD, c[r][g]);
}

/// Softmax of one row of dots in the reference's order of operations (dot / sqrt(D), then
/// exp(l - max), then e / sum); the sum runs in eight double lanes (element i in lane i % 8)
/// added in a fixed order at the end, so every level with FMA gives the same bits.
static void NK(softmax_row)(double *dots, int32_t n, double scale, double *out) {
    const int whole = n & ~7;
    double top = -__builtin_inf();
    for (int i = 0; i < n; i++) top = dots[i] > top ? dots[i] : top;
    const double mx = top / scale;
    const vd mvec = SPLATD(mx);
    vd acc[8 / VD];
    for (int u = 0; u < 8 / VD; u++) acc[u] = (vd){0};
    const double inverse = 1 / scale;
    uint64_t bits;
    __builtin_memcpy(&bits, &scale, 8);
    // When sqrt(D) is a power of two, multiplying by the inverse equals the division.
    if (inverse * scale == 1 && (bits & 0xFFFFFFFFFFFFFULL) == 0) {
        const vd iv = SPLATD(inverse);
        for (int b = 0; b < whole; b += 8)
#pragma clang loop unroll(full)
            for (int u = 0; u < 8 / VD; u++) {
                vd e = NK(expv)(LOADD(dots + b + u * VD) * iv - mvec);
                STORED(out + b + u * VD, e);
                acc[u] += e;
            }
    } else {
        const vd sv = SPLATD(scale);
        for (int b = 0; b < whole; b += 8)
#pragma clang loop unroll(full)
            for (int u = 0; u < 8 / VD; u++) {
                vd e = NK(expv)(LOADD(dots + b + u * VD) / sv - mvec);
                STORED(out + b + u * VD, e);
                acc[u] += e;
            }
    }
    if (whole < n) {
        // The last partial group: lanes past n exponentiate -inf to 0.
        double x[8];
        for (int i = 0; i < 8; i++) x[i] = whole + i < n ? dots[whole + i] / scale - mx : -__builtin_inf();
        for (int u = 0; u < 8 / VD; u++) {
            vd e = NK(expv)(LOADD(x + u * VD));
            for (int i = 0; i < VD; i++)
                if (whole + u * VD + i < n) out[whole + u * VD + i] = e[i];
            acc[u] += e;
        }
    }
    double s[8];
    for (int u = 0; u < 8 / VD; u++) STORED(s + u * VD, acc[u]);
    double a4[4], a2[2];
    for (int i = 0; i < 4; i++) a4[i] = s[i] + s[i + 4];
    for (int i = 0; i < 2; i++) a2[i] = a4[i] + a4[i + 2];
    const double sum = a2[0] + a2[1];
    const vd total = SPLATD(sum);
    for (int b = 0; b < whole; b += VD) STORED(out + b, LOADD(out + b) / total);
    for (int i = whole; i < n; i++) out[i] /= sum;
}

static void NK(map_rows)(const double *q, int32_t m, int32_t d, const double *packed, int32_t n,
                         double scale, int32_t softmax, double *scratch, double *out) {
    const int panels = (n + MAP_PANEL - 1) / MAP_PANEL;
    const int npad = panels * MAP_PANEL;
    const int tiles = (m + MAP_MR - 1) / MAP_MR;
    double *qT = scratch;
    double *dots = scratch + (size_t)tiles * MAP_MR * d;
    // Each tile's rows transposed to [d, MAP_MR], missing rows zero.
    for (int t = 0; t < tiles; t++) {
        double *tile = qT + (size_t)t * d * MAP_MR;
        for (int j = 0; j < d; j++)
            for (int i = 0; i < MAP_MR; i++) {
                const int row = t * MAP_MR + i;
                tile[j * MAP_MR + i] = row < m ? q[(size_t)row * d + j] : 0;
            }
    }
    // Every tile against one key panel while the panel is in L1.
    for (int pn = 0; pn < panels; pn++) {
        const double *panel = packed + (size_t)pn * d * MAP_PANEL;
        for (int t = 0; t < tiles; t++)
            NK(dot_tile)(qT + (size_t)t * d * MAP_MR, d, panel, dots + (size_t)t * MAP_MR * npad + pn * MAP_PANEL, npad);
    }
    for (int i = 0; i < m; i++) {
        if (softmax) NK(softmax_row)(dots + (size_t)i * npad, n, scale, out + (size_t)i * n);
        else __builtin_memcpy(out + (size_t)i * n, dots + (size_t)i * npad, (size_t)n * 8);
    }
}

// MARK: - Pooling (kernels_pool.h: token rows summed in double)

#include "kernels_pool.h"

// MARK: - Test entry points and the peak loop

static void NK(exp_f64)(const double *x, double *out, int32_t count) {
    for (int i = 0; i < count; i += VD) {
        double t[VD];
        for (int u = 0; u < VD; u++) t[u] = i + u < count ? x[i + u] : 0;
        vd e = NK(expv)(LOADD(t));
        for (int u = 0; u < VD && i + u < count; u++) out[i + u] = e[u];
    }
}

static void NK(exp2_f32)(const float *x, float *out, int32_t count) {
    for (int i = 0; i < count; i += VF) {
        float t[VF];
        for (int u = 0; u < VF; u++) t[u] = i + u < count ? x[i + u] : 0;
        vf e = NK(exp2v)(LOADF(t));
        for (int u = 0; u < VF && i + u < count; u++) out[i + u] = e[u];
    }
}

static float NK(fma_loop)(int64_t iterations) {
    // The start values depend on the argument, so no chain can be folded at compile time:
    // with constant starts, the chain starting at 1.0 (the fixed point of x * a + b in
    // float) was proven constant and dropped, and 11 chains ran where 12 were counted.
    const float s0 = 0.05f + (float)(iterations & 1) * 1e-6f;
    const vf a = SPLATF(0.9999f), b = SPLATF(1e-4f);
    vf x0 = SPLATF(s0), x1 = SPLATF(2 * s0), x2 = SPLATF(3 * s0), x3 = SPLATF(4 * s0);
    vf x4 = SPLATF(5 * s0), x5 = SPLATF(6 * s0), x6 = SPLATF(7 * s0), x7 = SPLATF(8 * s0);
    vf x8 = SPLATF(9 * s0), x9 = SPLATF(10 * s0), x10 = SPLATF(11 * s0), x11 = SPLATF(12 * s0);
    for (int64_t i = 0; i < iterations; i++) {
        x0 = FMAF(x0, a, b); x1 = FMAF(x1, a, b); x2 = FMAF(x2, a, b); x3 = FMAF(x3, a, b);
        x4 = FMAF(x4, a, b); x5 = FMAF(x5, a, b); x6 = FMAF(x6, a, b); x7 = FMAF(x7, a, b);
        x8 = FMAF(x8, a, b); x9 = FMAF(x9, a, b); x10 = FMAF(x10, a, b); x11 = FMAF(x11, a, b);
    }
    vf s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11;
    return NK(hsum)(s);
}

const nabla_kernels NK(nabla_kernels) = {
    NK_LEVEL, NK_NAME, VF, MAP_PANEL,
    NK(attn_query_block),
    NK(map_pack_keys), NK(map_rows), NK(pool_rows),
    NK(exp_f64), NK(exp2_f32), NK(softmax_row),
    NK(fma_loop),
};

#undef vf
#undef vd
#undef vi
#undef vl
#undef FMAF
#undef MAP_PANEL
#undef NK_SWAP8
#undef NK_SWAP4
#undef NK_SWAP2
#undef NK_SWAP1
#undef NK_REST8
#undef NK_REST4

// The level's parameters, for the next inclusion.
#undef NK
#undef VF
#undef VD
#undef NK_FMA
#undef ATT_NV
#undef MAP_MR
#undef MAP_NV
#undef POOL_NV8
#undef NK_F16C
#undef NK_SCALEF
#undef NK_LEVEL
#undef NK_NAME
