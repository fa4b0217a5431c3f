// The hot loops of nabla's engine in C, compiled once per instruction-set level and
// chosen at run time (docs/engine.md). Each level's functions sit behind one table,
// `nabla_kernels`; `nabla_kernels_for(level)` returns the table of a level this CPU and
// OS can run, or NULL. Nothing here reads the environment: NablaCore's `KernelVariant`
// does (`NABLA_CPU`).
#ifndef NABLA_KERNELS_H
#define NABLA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels, in the order of preference on their architecture.
typedef enum nabla_isa {
    /// x86-64 baseline: SSE2, 16 xmm registers, no FMA (multiply and add round twice).
    NABLA_ISA_BASELINE = 0,
    /// AVX2 + FMA (x86-64-v3): 16 ymm registers, tiles sized for them.
    NABLA_ISA_AVX2 = 1,
    /// AVX-512 F/DQ/BW/VL (x86-64-v4): 32 zmm registers.
    NABLA_ISA_AVX512 = 2,
    /// arm64 Advanced SIMD (NEON), 32 q registers; the only level on arm64.
    NABLA_ISA_NEON = 3,
} nabla_isa;

/// Scratch of one worker for `attn_query_block` (floats; 64-byte aligned):
/// `o [bq, dv]`, `m [bq]`, `l [bq]`, `p [2, 4, 64]` (two score buffers, used in turn), and,
/// when the block mass is recorded, `mass_sum`, `mass_max` `[bq, npad]` with `npad` = N
/// rounded up to 16.
typedef struct nabla_attn_workspace {
    float *o, *m, *l, *p, *mass_sum, *mass_max;
    int32_t npad;
} nabla_attn_workspace;

/// One query block of one packed head for `attn_query_block`.
/// Shapes (floats, row-major): `q [bq, d]` scaled by log2(e)/sqrt(D); `kT [n, d, bk]`
/// (each key block transposed, keys zero-padded to bk, a multiple of 16);
/// `v [n, bk, dv]` (dv a multiple of 16) or NULL; `out [S, d]` or NULL, the rows
/// `stored_rows[0..<rows]` written; `mass [n]` (double) or NULL, added to.
/// Blocks of any size (partial edge blocks, issue 18): `rows` is the query block's real
/// rows (0 means `b`); `key_counts [n]` the real keys of each key block (NULL: `b` each);
/// the keys past a block's count score -inf and the rows past `rows` are not written.
typedef struct nabla_attn_block {
    const float *q;
    const float *kT;
    const float *v;
    const int32_t *keys;
    int32_t count;
    int32_t n, b, bq, bk, d, dv;
    float *out;
    const int32_t *stored_rows;
    double *mass;
    const int32_t *key_counts;
    int32_t rows;
} nabla_attn_block;

/// One instruction-set level's kernels.
typedef struct nabla_kernels {
    nabla_isa isa;
    /// "baseline", "avx2", "avx512" or "neon".
    const char *name;
    /// Floats per vector register of this level (4, 8, 16, 4).
    int32_t float_lanes;
    /// Doubles per key panel of the pooled map (`map_pack_keys`).
    int32_t map_panel;

    /// Block-sparse attention of one query block against its kept key blocks
    /// (FlashAttention's online softmax, keys outermost), NABLA.md "block-sparse attention".
    void (*attn_query_block)(const nabla_attn_block *job, const nabla_attn_workspace *ws);

    /// Packs the pooled keys `ka [n, d]` (double) into panels `[panels, d, map_panel]`,
    /// zero padded; `out` holds `panels * d * map_panel` doubles, panels = ceil(n / map_panel).
    void (*map_pack_keys)(const double *ka, int32_t n, int32_t d, double *out);
    /// Rows `q [m, d]` (double) of the pooled queries against every packed key:
    /// `out [m, n]` = softmax over keys of `q . k / scale` when `softmax` is nonzero,
    /// else the raw dot products. `scratch` holds `map_scratch(m, n, d)` doubles.
    void (*map_rows)(const double *q, int32_t m, int32_t d, const double *packed, int32_t n,
                     double scale, int32_t softmax, double *scratch, double *out);
    /// Sum of `count` token rows of `d` elements, widened to double, summed one token after
    /// another (the reference's order): `acc[j] = sum_i row_i[j]`, then `acc[j] /= divisor`.
    /// `element`: 0 float32, 1 float16, 2 bfloat16; row i starts at `base + rows[i] * stride_bytes`.
    void (*pool_rows)(const void *base, int32_t element, ptrdiff_t stride_bytes, const int32_t *rows,
                      int32_t count, int32_t d, double divisor, double *acc);

    /// Elementwise e^x (double, x <= 0) and 2^x (float, x <= 127): the softmax exponentials, for tests.
    void (*exp_f64)(const double *x, double *out, int32_t count);
    void (*exp2_f32)(const float *x, float *out, int32_t count);
    /// One softmax row as `map_rows` computes it: `out[0..<n]` from raw dots (readable to n
    /// rounded up to 8; the dots may be overwritten).
    void (*softmax_row)(double *dots, int32_t n, double scale, double *out);

    /// `iterations` rounds of 12 independent vector FMA chains on this thread (the FP32
    /// peak loop); returns a value that depends on every chain. Flops: iterations * 12 * 2 * float_lanes.
    float (*fma_loop)(int64_t iterations);
} nabla_kernels;

/// Doubles of scratch `map_rows` needs for `m` rows.
size_t nabla_map_scratch(int32_t m, int32_t n, int32_t d);

/// Whether this CPU and OS can run `isa` (CPUID feature bits, and XGETBV for the OS saving
/// the ymm / zmm state), and this build holds it.
int nabla_isa_supported(nabla_isa isa);
/// The best level `nabla_isa_supported` allows.
nabla_isa nabla_isa_best(void);
/// The kernels of `isa`, or NULL when `nabla_isa_supported(isa)` is false.
const nabla_kernels *nabla_kernels_for(nabla_isa isa);

#ifdef __cplusplus
}
#endif
#endif
