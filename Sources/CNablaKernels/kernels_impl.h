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

/// 2^x for VF floats: x = n + f, n = round(x) by the 1.5 * 2^23 trick, 2^f by a degree-6
/// polynomial (max relative error 4.4e-9 in exact arithmetic), 2^n in the exponent bits.
/// Inputs at or below -127 (and -inf) give exactly 0. Cephes' exp2f scheme.
static inline __attribute__((always_inline)) vf NK(exp2v)(vf x) {
    x = __builtin_elementwise_max(x, SPLATF(-127.0f));  // -inf and NaN-free inputs: one max
    vf magic = SPLATF(12582912.0f);
    vf shifted = x + magic;
    vf n = shifted - magic;
    vf f = x - n;
    vf p = SPLATF(1.5332501431705733e-04f);
    p = FMAF(p, f, SPLATF(1.3394706614725915e-03f));
    p = FMAF(p, f, SPLATF(9.618491070847777e-03f));
    p = FMAF(p, f, SPLATF(5.550342272182957e-02f));
    p = FMAF(p, f, SPLATF(2.4022647363573257e-01f));
    p = FMAF(p, f, SPLATF(6.931471992121055e-01f));
    p = FMAF(p, f, SPLATF(1.0000000004121687f));
    vi k = (vi)shifted - 0x4B400000;
    vi bits = (k + 127) << 23;
    return p * (vf)bits;
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

// MARK: - Attention

/// Scores of 4 query rows against nv * VF keys: p[r * 64 + c] = sum_j q[r, j] * kT[j, c].
static inline __attribute__((always_inline)) void NK(scores)(const float *q, int d, const float *kT, int ldk,
                                                          float *p, const int nv, vf *rowmax) {
    vf c[4][ATT_NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++) c[r][g] = (vf){0};
    for (int j = 0; j < d; j++) {
        vf k[ATT_NV];
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++) if (g < nv) k[g] = LOADF(kT + j * ldk + g * VF);
#pragma clang loop unroll(full)
        for (int r = 0; r < 4; r++) {
            vf a = SPLATF(q[r * d + j]);
#pragma clang loop unroll(full)
            for (int g = 0; g < ATT_NV; g++) if (g < nv) c[r][g] = FMAF(a, k[g], c[r][g]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++)
            if (g < nv) {
                STOREF(p + r * 64 + g * VF, c[r][g]);
                rowmax[r] = NK(self)(c[r][g] > rowmax[r], rowmax[r], c[r][g]);
            }
}

/// o[r, 0..<nv*VF] = o[r, ...] * scale[r] + sum_j p[r * 64 + j] * v[j, ...] for 4 rows:
/// the output tile stays in registers while the keys stream past.
static inline __attribute__((always_inline)) void NK(pv)(const float *p, int keys, const float *v, int ldv,
                                                      float *o, int ldo, const float *scale, const int nv) {
    vf c[4][ATT_NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++) if (g < nv) c[r][g] = LOADF(o + r * ldo + g * VF) * SPLATF(scale[r]);
    for (int j = 0; j < keys; j++) {
        vf x[ATT_NV];
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++) if (g < nv) x[g] = LOADF(v + j * ldv + g * VF);
#pragma clang loop unroll(full)
        for (int r = 0; r < 4; r++) {
            vf a = SPLATF(p[r * 64 + j]);
#pragma clang loop unroll(full)
            for (int g = 0; g < ATT_NV; g++) if (g < nv) c[r][g] = FMAF(a, x[g], c[r][g]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++) if (g < nv) STOREF(o + r * ldo + g * VF, c[r][g]);
}

static void NK(attn_query_block)(const nabla_attn_block *job, const nabla_attn_workspace *ws) {
    const int n = job->n, b = job->b, bq = job->bq, bk = job->bk, d = job->d, dv = job->dv;
    float *o = ws->o, *m = ws->m, *l = ws->l, *p = ws->p;
    const int npad = ws->npad;
    const int record = job->mass != NULL;
    for (int i = 0; i < bq * dv; i++) o[i] = 0;
    for (int r = 0; r < bq; r++) { m[r] = -__builtin_inff(); l[r] = 0; }
    if (record)
        for (int i = 0; i < bq * npad; i++) { ws->mass_sum[i] = 0; ws->mass_max[i] = 0; }
    const int rows = job->rows > 0 ? job->rows : b;
    for (int index = 0; index < job->count; index++) {
        const int kb = job->keys[index];
        const int kcount = job->key_counts ? job->key_counts[kb] : b;
        const float *kBlock = job->kT + (size_t)kb * d * bk;
        const float *vBlock = job->v ? job->v + (size_t)kb * bk * dv : NULL;
        for (int t = 0; t < bq; t += 4) {
            const float *qt = job->q + (size_t)t * d;
            float blockSum[4] = {0, 0, 0, 0};
            for (int c = 0; c < bk && c < kcount; c += 64) {
                const int width = bk - c < 64 ? bk - c : 64;
                const int valid = kcount - c < 64 ? kcount - c : 64;
                // Each row's maximum comes out of the score tile's registers (padded keys
                // score 0, so rows with padding take their maximum from memory below).
                vf rowmax[4];
                for (int r = 0; r < 4; r++) rowmax[r] = SPLATF(-__builtin_inff());
                int w = 0;
                for (; w + ATT_NV * VF <= width; w += ATT_NV * VF)
                    NK(scores)(qt, d, kBlock + c + w, bk, p + w, ATT_NV, rowmax);
                if (ATT_NV > 2)
                    for (; w + 2 * VF <= width; w += 2 * VF) NK(scores)(qt, d, kBlock + c + w, bk, p + w, 2, rowmax);
                for (; w < width; w += VF) NK(scores)(qt, d, kBlock + c + w, bk, p + w, 1, rowmax);
                // Online softmax per row: running max m, running sum l, and the factor the
                // row's output so far is rescaled by.
                float scale[4];
                for (int r = 0; r < 4; r++) {
                    float *row = p + r * 64;
                    vf mx = rowmax[r];
                    if (valid < width) {
                        for (int j = valid; j < width; j++) row[j] = -__builtin_inff();
                        mx = SPLATF(-__builtin_inff());
                        for (int j = 0; j < width; j += VF) {
                            vf x = LOADF(row + j);
                            mx = NK(self)(x > mx, mx, x);
                        }
                    }
                    const float mOld = m[t + r];
                    const float top = NK(hmax)(mx);
                    const float mNew = top > mOld ? top : mOld;
                    // The rescale factor 2^(mOld - mNew): 0 for a row's first keys, exactly 1
                    // when the maximum did not move (as the polynomial gives at 0).
                    float sc = mOld == mNew ? 1.0f : 0.0f;
                    if (mOld != -__builtin_inff() && mOld != mNew) {
                        vf s = NK(exp2v)(SPLATF(mOld - mNew));
                        sc = s[0];
                    }
                    const vf mv = SPLATF(mNew);
                    vf sum = (vf){0};
                    for (int j = 0; j < width; j += VF) {
                        vf e = NK(exp2v)(LOADF(row + j) - mv);
                        STOREF(row + j, e);
                        sum += e;
                    }
                    const float rowSum = NK(hsum)(sum);
                    l[t + r] = l[t + r] * sc + rowSum;
                    blockSum[r] = blockSum[r] * sc + rowSum;
                    m[t + r] = mNew;
                    scale[r] = sc;
                }
                if (vBlock) {
                    const float *vc = vBlock + (size_t)c * dv;
                    float *ot = o + (size_t)t * dv;
                    int g = 0;
                    for (; g + ATT_NV * VF <= dv; g += ATT_NV * VF)
                        NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, ATT_NV);
                    if (ATT_NV > 2)
                        for (; g + 2 * VF <= dv; g += 2 * VF) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, 2);
                    for (; g < dv; g += VF) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, 1);
                }
            }
            if (record)
                for (int r = 0; r < 4; r++) {
                    ws->mass_sum[(t + r) * npad + kb] = blockSum[r];
                    ws->mass_max[(t + r) * npad + kb] = m[t + r];
                }
        }
    }
    // Rows out: O / l to the stored rows.
    if (job->out)
        for (int r = 0; r < rows; r++) {
            float *dst = job->out + (size_t)job->stored_rows[r] * d;
            const float inv = 1 / l[r];
            const float *src = o + (size_t)r * dv;
            for (int j = 0; j < d; j++) dst[j] = src[j] * inv;
        }
    // The true block mass of each row, summed over the block's tokens, divided by B.
    if (record) {
        const double share = 1.0 / rows;
        for (int r = 0; r < rows; r++) {
            const float *sums = ws->mass_sum + (size_t)r * npad, *maxima = ws->mass_max + (size_t)r * npad;
            const vf mv = SPLATF(m[r]), inv = SPLATF(1 / l[r]);
            for (int k = 0; k < n; k += VF) {
                vf e = LOADF(sums + k) * NK(exp2v)(LOADF(maxima + k) - mv) * inv;
                const int lanes = n - k < VF ? n - k : VF;
                for (int lane = 0; lane < lanes; lane++) job->mass[k + lane] += (double)e[lane] * share;
            }
        }
    }
}

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

// MARK: - Pooling

typedef float NK(v8f) __attribute__((vector_size(32), aligned(4)));
typedef double NK(v8d) __attribute__((vector_size(64), aligned(8)));
typedef uint16_t NK(v8h) __attribute__((vector_size(16), aligned(2)));
typedef uint32_t NK(v8u) __attribute__((vector_size(32), aligned(4)));

/// Adds elements j..<j+8 of a row, widened to double, to `acc` (exactly: every float16
/// and bfloat16 is a float).
static inline __attribute__((always_inline)) void NK(add8)(NK(v8d) *acc, const char *row, int element, int j) {
    NK(v8f) r;
    if (element == 0) {
        r = *(const NK(v8f) *)(const void *)(row + 4 * j);
    } else {
        NK(v8h) h = *(const NK(v8h) *)(const void *)(row + 2 * j);
        if (element == 2) {
            r = (NK(v8f))(__builtin_convertvector(h, NK(v8u)) << 16);
        } else {
#if NK_F16C
            r = (NK(v8f))_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(row + 2 * j)));
#else
            for (int i = 0; i < 8; i++) r[i] = nabla_half_to_float(h[i]);
#endif
        }
    }
    *acc += __builtin_convertvector(r, NK(v8d));
}

static inline __attribute__((always_inline)) float NK(load1)(const char *row, int element, int j) {
    if (element == 0) return ((const float *)(const void *)row)[j];
    uint16_t h;
    __builtin_memcpy(&h, row + 2 * j, 2);
    if (element == 2) { uint32_t u = (uint32_t)h << 16; float f; __builtin_memcpy(&f, &u, 4); return f; }
    return nabla_half_to_float(h);
}

static inline __attribute__((always_inline)) void NK(pool_rows_e)(const char *base, const int element, ptrdiff_t stride,
                                                               const int32_t *rows, int count, int d, double *acc) {
    int j = 0;
    for (; j + 8 * POOL_NV8 <= d; j += 8 * POOL_NV8) {
        NK(v8d) a[POOL_NV8];
#pragma clang loop unroll(full)
        for (int g = 0; g < POOL_NV8; g++) a[g] = (NK(v8d)){0};
        for (int i = 0; i < count; i++) {
            const char *row = base + (ptrdiff_t)rows[i] * stride;
#pragma clang loop unroll(full)
            for (int g = 0; g < POOL_NV8; g++) NK(add8)(&a[g], row, element, j + 8 * g);
        }
#pragma clang loop unroll(full)
        for (int g = 0; g < POOL_NV8; g++) *(NK(v8d) *)(void *)(acc + j + 8 * g) = a[g];
    }
    for (; j + 8 <= d; j += 8) {
        NK(v8d) a = (NK(v8d)){0};
        for (int i = 0; i < count; i++)
            NK(add8)(&a, base + (ptrdiff_t)rows[i] * stride, element, j);
        *(NK(v8d) *)(void *)(acc + j) = a;
    }
    for (; j < d; j++) {
        double a = 0;
        for (int i = 0; i < count; i++) a += (double)NK(load1)(base + (ptrdiff_t)rows[i] * stride, element, j);
        acc[j] = a;
    }
}

static void NK(pool_rows)(const void *base, int32_t element, ptrdiff_t stride, const int32_t *rows,
                          int32_t count, int32_t d, double divisor, double *acc) {
    switch (element) {
    case 0: NK(pool_rows_e)((const char *)base, 0, stride, rows, count, d, acc); break;
    case 1: NK(pool_rows_e)((const char *)base, 1, stride, rows, count, d, acc); break;
    default: NK(pool_rows_e)((const char *)base, 2, stride, rows, count, d, acc); break;
    }
    for (int j = 0; j < d; j++) acc[j] /= divisor;
}

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
    const vf a = SPLATF(0.9999f), b = SPLATF(1e-4f);
    vf x0 = SPLATF(0.1f), x1 = SPLATF(0.2f), x2 = SPLATF(0.3f), x3 = SPLATF(0.4f);
    vf x4 = SPLATF(0.5f), x5 = SPLATF(0.6f), x6 = SPLATF(0.7f), x7 = SPLATF(0.8f);
    vf x8 = SPLATF(0.9f), x9 = SPLATF(1.0f), x10 = SPLATF(1.1f), x11 = SPLATF(1.2f);
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
#undef NK_LEVEL
#undef NK_NAME
