// The pooling kernels of one instruction-set level, included by kernels_impl.h (no include
// guard on purpose: once per level, with that level's macros and helpers defined).

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
