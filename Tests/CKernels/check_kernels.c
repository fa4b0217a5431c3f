// Checks every kernel level this machine runs against naive references (double precision,
// written here from the definitions), without Swift: built by Scripts/check-arm64.sh for
// arm64 (run under qemu-aarch64 when present) and usable natively:
//   clang -O2 -ISources/CNablaKernels/include Sources/CNablaKernels/*.c Tests/CKernels/check_kernels.c -lm
//   ./a.out            # checks; exit 1 on a mismatch
//   ./a.out bench      # GFLOP/s of dense and block-sparse attention tiles and the FMA loop,
//                      # one thread, in thread CPU time (so other processes on the core do not count)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nabla_kernels.h"

static uint64_t rng = 88172645463325252ULL;
static double urand(void) {  // xorshift64, uniform in [-1, 1)
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}
static void *alloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    memset(p, 0, (bytes + 63) / 64 * 64);
    return p;
}
static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s: ", k->name); printf(__VA_ARGS__); printf("\n"); } } while (0)

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/// Attention of one head of S = n * b tokens (block order = stored order) under `kept`
/// [n, n], against softmax(q k^T / sqrt(D)) v over the kept blocks' keys in double.
static void check_attention(const nabla_kernels *k, int n, int b, int d, const unsigned char *kept) {
    const int s = n * b, bq = round_up(b, 4), bk = round_up(b, 16), dv = round_up(d, 16), npad = round_up(n, 16);
    float *Q = alloc(4 * (size_t)s * d), *K = alloc(4 * (size_t)s * d), *V = alloc(4 * (size_t)s * d);
    for (int i = 0; i < s * d; i++) { Q[i] = (float)(2 * urand()); K[i] = (float)(2 * urand()); V[i] = (float)urand(); }
    float *q = alloc(4 * (size_t)n * bq * d), *kT = alloc(4 * (size_t)n * d * bk), *v = alloc(4 * (size_t)n * bk * dv);
    const float scale = (float)(1.4426950408889634 / sqrt((double)d));
    for (int blk = 0; blk < n; blk++)
        for (int i = 0; i < b; i++)
            for (int j = 0; j < d; j++) {
                q[((size_t)blk * bq + i) * d + j] = Q[(size_t)(blk * b + i) * d + j] * scale;
                kT[((size_t)blk * d + j) * bk + i] = K[(size_t)(blk * b + i) * d + j];
                v[((size_t)blk * bk + i) * dv + j] = V[(size_t)(blk * b + i) * d + j];
            }
    float *out = alloc(4 * (size_t)s * d);
    double *mass = alloc(8 * (size_t)n * n);
    int32_t *rows = alloc(4 * (size_t)s), *keys = alloc(4 * (size_t)n);
    for (int i = 0; i < s; i++) rows[i] = i;
    nabla_attn_workspace ws = {alloc(4 * (size_t)bq * dv), alloc(4 * (size_t)bq + 64), alloc(4 * (size_t)bq + 64),
                               alloc(4 * 2 * 4 * 64), alloc(4 * (size_t)bq * npad), alloc(4 * (size_t)bq * npad), npad};
    int dense = 1;
    for (int i = 0; i < n * n; i++) dense &= kept[i] != 0;
    for (int a = 0; a < n; a++) {
        int count = 0;
        for (int c = 0; c < n; c++) if (kept[a * n + c]) keys[count++] = c;
        nabla_attn_block job = {q + (size_t)a * bq * d, kT, v, keys, count, n, b, bq, bk, d, dv,
                                out, rows + a * b, dense ? mass + (size_t)a * n : NULL, NULL, 0};
        k->attn_query_block(&job, &ws);
    }
    double worst = 0, worstMass = 0;
    double *sc = malloc(8 * (size_t)s), *blockMass = malloc(8 * (size_t)n);
    for (int i = 0; i < s; i++) {
        const int a = i / b;
        double mx = -INFINITY;
        for (int t = 0; t < s; t++) {
            sc[t] = -INFINITY;
            if (!kept[a * n + t / b]) continue;
            double dot = 0;
            for (int j = 0; j < d; j++) dot += (double)Q[(size_t)i * d + j] * K[(size_t)t * d + j];
            sc[t] = dot / sqrt((double)d);
            if (sc[t] > mx) mx = sc[t];
        }
        double sum = 0;
        for (int t = 0; t < s; t++) { sc[t] = kept[a * n + t / b] ? exp(sc[t] - mx) : 0; sum += sc[t]; }
        for (int j = 0; j < d; j++) {
            double o = 0;
            for (int t = 0; t < s; t++) o += sc[t] * V[(size_t)t * d + j];
            o /= sum;
            const double err = fabs(o - out[(size_t)i * d + j]);
            if (err > worst) worst = err;
        }
        if (dense) {
            for (int c = 0; c < n; c++) { blockMass[c] = 0; for (int t = 0; t < b; t++) blockMass[c] += sc[c * b + t] / sum; }
            if (i % b == b - 1) {
                // mass[a, c] = mean over the block's rows of each row's mass in key block c.
                (void)0;
            }
            for (int c = 0; c < n; c++) mass[(size_t)a * n + c] -= blockMass[c] / b;
        }
    }
    if (dense) for (int i = 0; i < n * n; i++) if (fabs(mass[i]) > worstMass) worstMass = fabs(mass[i]);
    CHECK(worst < 2e-5, "attention n %d b %d d %d: max |error| %.3g", n, b, d, worst);
    CHECK(worstMass < 1e-5, "block mass n %d b %d d %d: max |error| %.3g", n, b, d, worstMass);
    free(sc); free(blockMass);
    free(Q); free(K); free(V); free(q); free(kT); free(v); free(out); free(mass); free(rows); free(keys);
    free(ws.o); free(ws.m); free(ws.l); free(ws.p); free(ws.mass_sum); free(ws.mass_max);
}

/// The pooled map's rows against softmax(q . k / sqrt(D)) in double (libm exp).
static void check_map(const nabla_kernels *k, int m, int n, int d) {
    double *q = alloc(8 * (size_t)m * d), *ka = alloc(8 * (size_t)n * d);
    for (int i = 0; i < m * d; i++) q[i] = 3 * urand();
    for (int i = 0; i < n * d; i++) ka[i] = 3 * urand();
    const int panels = (n + k->map_panel - 1) / k->map_panel;
    double *packed = alloc(8 * (size_t)panels * d * k->map_panel);
    double *scratch = alloc(8 * nabla_map_scratch(m, n, d)), *out = alloc(8 * (size_t)m * n), *dots = alloc(8 * (size_t)m * n);
    k->map_pack_keys(ka, n, d, packed);
    k->map_rows(q, m, d, packed, n, sqrt((double)d), 1, scratch, out);
    k->map_rows(q, m, d, packed, n, sqrt((double)d), 0, scratch, dots);
    double worst = 0, worstDot = 0;
    for (int i = 0; i < m; i++) {
        double l[4096], mx = -INFINITY, sum = 0;
        for (int c = 0; c < n; c++) {
            double dot = 0;
            for (int j = 0; j < d; j++) dot += q[(size_t)i * d + j] * ka[(size_t)c * d + j];
            if (fabs(dot - dots[(size_t)i * n + c]) > worstDot) worstDot = fabs(dot - dots[(size_t)i * n + c]);
            l[c] = dot / sqrt((double)d);
            if (l[c] > mx) mx = l[c];
        }
        for (int c = 0; c < n; c++) { l[c] = exp(l[c] - mx); sum += l[c]; }
        for (int c = 0; c < n; c++) {
            const double err = fabs(l[c] / sum - out[(size_t)i * n + c]);
            if (err > worst) worst = err;
        }
    }
    CHECK(worstDot < 1e-11 * d, "map dots m %d n %d d %d: max |error| %.3g", m, n, d, worstDot);
    CHECK(worst < 1e-13, "map softmax m %d n %d d %d: max |error| %.3g", m, n, d, worst);
    free(q); free(ka); free(packed); free(scratch); free(out); free(dots);
}

static float bf16(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static float f16(uint16_t h) {  // by ldexp, independent of the kernels' bit assembly
    const int e = (h >> 10) & 31, mnt = h & 1023;
    float v = e == 0 ? ldexpf((float)mnt, -24) : e == 31 ? (mnt ? NAN : INFINITY) : ldexpf((float)(mnt | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static void check_pool(const nabla_kernels *k, int d) {
    const int tokens = 37, count = 9, stride = d + 3;
    float *f = alloc(4 * (size_t)tokens * stride);
    uint16_t *h = alloc(2 * (size_t)tokens * stride), *bh = alloc(2 * (size_t)tokens * stride);
    for (int i = 0; i < tokens * stride; i++) {
        f[i] = (float)(5 * urand());
        h[i] = (uint16_t)((rng >> 20) & 0x7bff);  // finite halves, both signs, subnormals included
        bh[i] = (uint16_t)((rng >> 30) & 0xbf7f);
    }
    int32_t rows[9] = {3, 36, 0, 17, 5, 5, 22, 11, 30};
    double acc[300];
    for (int element = 0; element < 3; element++) {
        const void *base = element == 0 ? (const void *)f : element == 1 ? (const void *)h : (const void *)bh;
        const ptrdiff_t bytes = element == 0 ? 4 : 2;
        k->pool_rows(base, element, stride * bytes, rows, count, d, count, acc);
        int bad = 0;
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int i = 0; i < count; i++) {
                const size_t at = (size_t)rows[i] * stride + j;
                s += element == 0 ? (double)f[at] : element == 1 ? (double)f16(h[at]) : (double)bf16(bh[at]);
            }
            bad += s / count != acc[j];
        }
        CHECK(bad == 0, "pooling element %d d %d: %d of %d sums differ from the sequential sum", element, d, bad, d);
    }
    free(f); free(h); free(bh);
}

static void check_exp(const nabla_kernels *k) {
    enum { N = 4001 };
    static double x[N], e[N];
    static float xf[N], ef[N];
    for (int i = 0; i < N; i++) { x[i] = -745.0 * i / (N - 1); xf[i] = -126.0f * i / (N - 1); }
    k->exp_f64(x, e, N);
    k->exp2_f32(xf, ef, N);
    double worst = 0, worstf = 0;
    for (int i = 0; i < N; i++) {
        const double ref = exp(x[i]);
        if (ref > 1e-300) { const double r = fabs(e[i] - ref) / ref; if (r > worst) worst = r; }
        const double reff = exp2((double)xf[i]);
        if (reff > 1e-37) { const double r = fabs(ef[i] - reff) / reff; if (r > worstf) worstf = r; }
    }
    CHECK(worst < 5e-16, "exp: max relative error %.3g", worst);
    CHECK(worstf < 1e-6, "exp2f: max relative error %.3g", worstf);
    double z = 0, big = -800;
    k->exp_f64(&z, e, 1); CHECK(e[0] == 1, "exp(0) = %.17g", e[0]);
    k->exp_f64(&big, e, 1); CHECK(e[0] == 0, "exp(-800) = %.3g", e[0]);
    float ninf = -INFINITY;
    k->exp2_f32(&ninf, ef, 1); CHECK(ef[0] == 0, "exp2f(-inf) = %g", ef[0]);
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

/// Block-sparse attention tiles: 64 query blocks against 128 key blocks (B 64, D 64, 4 MiB
/// of K and V, more than L2), each keeping its 5 nearest blocks and about 27% of the rest
/// at random (density about 0.3), best of 15 runs, against the FMA loop's `peak`.
static void bench_sparse(const nabla_kernels *k, double peak) {
    const int n = 128, rowsTimed = 64, b = 64, d = 64, bq = 64, bk = 64, dv = 64, npad = 128;
    rng = 88172645463325252ULL;  // the same inputs and mask at every level
    float *q = alloc(4 * (size_t)n * bq * d), *kT = alloc(4 * (size_t)n * d * bk), *v = alloc(4 * (size_t)n * bk * dv);
    for (int i = 0; i < n * bq * d; i++) { q[i] = (float)(0.3 * urand()); kT[i] = (float)urand(); v[i] = (float)urand(); }
    float *out = alloc(4 * (size_t)n * b * d);
    int32_t *rows = alloc(4 * (size_t)n * b), *keys = alloc(4 * (size_t)n * n), *count = alloc(4 * (size_t)n);
    for (int i = 0; i < n * b; i++) rows[i] = i;
    long kept = 0;
    for (int a = 0; a < n; a++) {
        count[a] = 0;
        for (int c = 0; c < n; c++)
            if (abs(c - a) < 3 || urand() < -0.45) keys[a * n + count[a]++] = c;
        if (a < rowsTimed) kept += count[a];
    }
    nabla_attn_workspace ws = {alloc(4 * (size_t)bq * dv), alloc(4 * bq), alloc(4 * bq), alloc(4 * 2 * 4 * 64),
                               alloc(4 * (size_t)bq * npad), alloc(4 * (size_t)bq * npad), npad};
    double best = 1e9;
    for (int rep = 0; rep < 15; rep++) {
        const double t0 = now();
        for (int a = 0; a < rowsTimed; a++) {
            nabla_attn_block job = {q + (size_t)a * bq * d, kT, v, keys + a * n, count[a], n, b, bq, bk, d, dv,
                                    out, rows + a * b, NULL, NULL, 0};
            k->attn_query_block(&job, &ws);
        }
        const double t = now() - t0;
        if (t < best) best = t;
    }
    const double flops = 4.0 * d * b * b * kept;
    printf("%-9s sparse attention %.1f GFLOP/s at density %.3f: %.1f%% of the FMA loop\n", k->name, flops / best / 1e9,
           (double)kept / rowsTimed / n, 100 * flops / best / peak);
    free(q); free(kT); free(v); free(out); free(rows); free(keys); free(count);
    free(ws.o); free(ws.m); free(ws.l); free(ws.p); free(ws.mass_sum); free(ws.mass_max);
}

static void bench(const nabla_kernels *k) {
    const int n = 32, b = 64, d = 64, bq = 64, bk = 64, dv = 64, npad = 64;
    float *q = alloc(4 * (size_t)n * bq * d), *kT = alloc(4 * (size_t)n * d * bk), *v = alloc(4 * (size_t)n * bk * dv);
    for (int i = 0; i < n * bq * d; i++) { q[i] = (float)urand(); kT[i] = (float)urand(); v[i] = (float)urand(); }
    float *out = alloc(4 * (size_t)n * b * d);
    int32_t *rows = alloc(4 * (size_t)n * b), *keys = alloc(4 * (size_t)n);
    for (int i = 0; i < n * b; i++) rows[i] = i;
    for (int i = 0; i < n; i++) keys[i] = i;
    nabla_attn_workspace ws = {alloc(4 * (size_t)bq * dv), alloc(4 * bq), alloc(4 * bq), alloc(4 * 2 * 4 * 64),
                               alloc(4 * (size_t)bq * npad), alloc(4 * (size_t)bq * npad), npad};
    // Best of many short runs, for the kernel and the FMA loop alike: on a shared machine the
    // fastest run is the one least disturbed.
    double best = 1e9;
    for (int rep = 0; rep < 15; rep++) {
        const double t0 = now();
        for (int a = 0; a < n; a++) {
            nabla_attn_block job = {q + (size_t)a * bq * d, kT, v, keys, n, n, b, bq, bk, d, dv, out, rows + a * b, NULL, NULL, 0};
            k->attn_query_block(&job, &ws);
        }
        const double t = now() - t0;
        if (t < best) best = t;
    }
    const double flops = 4.0 * d * b * b * n * n;
    double fastest = 1e9;
    for (int rep = 0; rep < 15; rep++) {
        const double t0 = now();
        volatile float sink = k->fma_loop(2000000);
        (void)sink;
        if (now() - t0 < fastest) fastest = now() - t0;
    }
    const double peak = 2000000.0 * 12 * 2 * k->float_lanes / fastest;
    printf("%-9s dense attention %.1f GFLOP/s, FMA loop %.1f GFLOP/s (one thread): %.1f%%\n", k->name,
           flops / best / 1e9, peak / 1e9, 100 * flops / best / peak);
    free(q); free(kT); free(v); free(out); free(rows); free(keys);
    bench_sparse(k, peak);
}

int main(int argc, char **argv) {
    int ran = 0;
    for (int isa = 0; isa <= 3; isa++) {
        const nabla_kernels *k = nabla_kernels_for((nabla_isa)isa);
        if (!k) continue;
        ran++;
        if (argc > 1 && strcmp(argv[1], "bench") == 0) { bench(k); continue; }
        check_exp(k);
        for (int d = 5; d <= 136; d += 29) check_pool(k, d);
        check_map(k, 7, 37, 64);
        check_map(k, 25, 100, 24);
        check_map(k, 13, 3, 130);
        unsigned char kept[16 * 16];
        for (int i = 0; i < 16 * 16; i++) kept[i] = 1;
        check_attention(k, 4, 64, 64, kept);      // dense, the usual block
        check_attention(k, 3, 36, 24, kept);      // padded rows, keys and values
        check_attention(k, 2, 80, 72, kept);      // a second 64-key chunk of 16, dv 80
        for (int i = 0; i < 16 * 16; i++) kept[i] = (i % 17 == 0) || ((i * 7) % 5 == 0);
        check_attention(k, 16, 16, 32, kept);     // block-sparse
        printf("%-9s %s\n", k->name, failures ? "checked, with failures" : "ok");
    }
    if (!ran) { printf("no kernel level runs here\n"); return 1; }
    return failures ? 1 : 0;
}
