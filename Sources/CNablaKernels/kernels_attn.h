// The attention kernels of one instruction-set level, included by kernels_impl.h (no include
// guard on purpose: once per level, with that level's macros and helpers defined).
//
// A query block is worked in items: one 4-row tile of the block against one chunk of up
// to 64 keys of one kept key block. Each item has three steps: S (the 4 x 64 scores, in
// registers, then to a score buffer), M (the online softmax of the 4 rows on that buffer)
// and P (o += P V for the 4 rows). P needs M's exponentials, and M is a chain of dependent
// reductions and exponentials, so the items are software-pipelined: S(i+1), P(i), M(i+1).
// The chain of M(i+1) then has S(i+2)'s independent multiply-adds behind it to overlap
// with, instead of P(i+1)'s, which would wait for it (two score buffers take turns).

/// Scores of 4 query rows against nv * VF keys: p[r * 64 + c] = sum_j q[r, j] * kT[j, c].
static inline __attribute__((always_inline)) void NK(scores)(const float *q, int d, const float *kT, int ldk,
                                                          float *p, const int nv, vf *rowmax, const char *pf) {
    vf c[4][ATT_NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++) c[r][g] = (vf){0};
    for (int j = 0; j < d; j++) {
        __builtin_prefetch(pf + j * 16, 0, 2);
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
                                                      float *o, int ldo, const float *scale, const int nv,
                                                      const char *pf) {
    vf c[4][ATT_NV];
    // Once the rows' maxima settle every factor is 1: the tile is loaded as it is (x * 1 = x).
    int rescale = 0;
    for (int r = 0; r < 4; r++) rescale |= scale[r] != 1.0f;
#pragma clang loop unroll(full)
    for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
        for (int g = 0; g < ATT_NV; g++)
            if (g < nv) c[r][g] = LOADF(o + r * ldo + g * VF);
    if (rescale)
#pragma clang loop unroll(full)
        for (int r = 0; r < 4; r++)
#pragma clang loop unroll(full)
            for (int g = 0; g < ATT_NV; g++)
                if (g < nv) c[r][g] = c[r][g] * SPLATF(scale[r]);
    for (int j = 0; j < keys; j++) {
        __builtin_prefetch(pf + j * 16, 0, 2);
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

/// Where an item of a query block is: the kept key block's position in `keys` and its
/// index, the tile's first row and the chunk's first key.
typedef struct NK(item) { int index, kb, t, c; } NK(item);

/// The item after `it` in the order (key block, tile, chunk), by counting (no division).
static inline __attribute__((always_inline)) NK(item) NK(item_next)(const nabla_attn_block *job, NK(item) it) {
    it.c += 64;
    if (it.c >= job->bk) {
        it.c = 0;
        it.t += 4;
        if (it.t >= job->bq) {
            it.t = 0;
            it.index++;
            it.kb = it.index < job->count ? job->keys[it.index] : 0;
        }
    }
    return it;
}

/// S: the scores of the item's 4 rows against its chunk's keys into `p` (4 x 64), and
/// each row's maximum over them (padded keys score 0: M takes those rows' maxima again).
static inline __attribute__((always_inline)) void NK(item_scores)(const nabla_attn_block *job, NK(item) it,
                                                               float *p, vf *rowmax, const char *pf) {
    const int bk = job->bk, d = job->d;
    const int width = bk - it.c < 64 ? bk - it.c : 64;
    const float *qt = job->q + (size_t)it.t * d;
    const float *kc = job->kT + (size_t)it.kb * d * bk + it.c;
    for (int r = 0; r < 4; r++) rowmax[r] = SPLATF(-__builtin_inff());
    int w = 0;
    for (; w + ATT_NV * VF <= width; w += ATT_NV * VF, pf = (const char *)kc)
        NK(scores)(qt, d, kc + w, bk, p + w, ATT_NV, rowmax, pf);
    if (ATT_NV > 2)
        for (; w + 2 * VF <= width; w += 2 * VF, pf = (const char *)kc) NK(scores)(qt, d, kc + w, bk, p + w, 2, rowmax, pf);
    for (; w < width; w += VF, pf = (const char *)kc) NK(scores)(qt, d, kc + w, bk, p + w, 1, rowmax, pf);
}

/// The real keys of the item's chunk: the key block's count (`key_counts`, partial edge
/// blocks, issue 18; `b` when NULL) past the chunk's start, at most 64, at least 0 (a
/// chunk past a partial block's keys scores -inf throughout and adds nothing).
static inline __attribute__((always_inline)) int NK(valid_keys)(const nabla_attn_block *job, NK(item) it) {
    const int count = job->key_counts ? job->key_counts[it.kb] : job->b;
    const int valid = count - it.c;
    return valid < 0 ? 0 : (valid < 64 ? valid : 64);
}

// The 4 rows' reductions at once: four row vectors are halved into one vector by two rounds
// of shuffles (rows a and b into the halves of one vector, then a, b, c, d into its quarters),
// then each quarter is reduced within itself; row r's result is lane r * NK_G, and
// NK_PICK4 gathers the four into a 4-float vector. A fixed order, the same at every call.
#define v4 NK(v4)
#define v4i NK(v4i)
typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4)));
#if VF == 16
#define NK_G 4
#define NK_H1(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
#define NK_H2(a, b) __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)
#define NK_Q1(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
#define NK_Q2(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31)
#define NK_X2(v) __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
#define NK_X1(v) __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)
#define NK_PICK4(v) __builtin_shufflevector(v, v, 0, 4, 8, 12)
#define NK_WIDEN4(x) __builtin_shufflevector(x, x, 0, 1, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
#elif VF == 8
#define NK_G 2
#define NK_H1(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define NK_H2(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15)
#define NK_Q1(a, b) __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13)
#define NK_Q2(a, b) __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15)
#define NK_X1(v) __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6)
#define NK_PICK4(v) __builtin_shufflevector(v, v, 0, 2, 4, 6)
#define NK_WIDEN4(x) __builtin_shufflevector(x, x, 0, 1, 2, 3, -1, -1, -1, -1)
#else
#define NK_G 1
#define NK_H1(a, b) __builtin_shufflevector(a, b, 0, 1, 4, 5)
#define NK_H2(a, b) __builtin_shufflevector(a, b, 2, 3, 6, 7)
#define NK_Q1(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define NK_Q2(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#define NK_PICK4(v) (v)
#define NK_WIDEN4(x) (x)
#endif
#define NK_MAXF(a, b) NK(self)((b) > (a), (a), (b))
#ifndef NK_LAZY
#define NK_LAZY 8.0f
#endif

/// The maximum of each of the 4 rows' vectors, as a 4-float vector (no NaN expected).
static inline __attribute__((always_inline)) v4 NK(hmax4)(const vf *x) {
    vf ab = NK_MAXF(NK_H1(x[0], x[1]), NK_H2(x[0], x[1])), cd = NK_MAXF(NK_H1(x[2], x[3]), NK_H2(x[2], x[3]));
    vf v = NK_MAXF(NK_Q1(ab, cd), NK_Q2(ab, cd));
#if NK_G == 4
    v = NK_MAXF(v, NK_X2(v));
#endif
#if NK_G >= 2
    v = NK_MAXF(v, NK_X1(v));
#endif
    return NK_PICK4(v);
}

/// The sum of each of the 4 rows' vectors, as a 4-float vector (a fixed pairwise order).
static inline __attribute__((always_inline)) v4 NK(hsum4)(const vf *x) {
    vf ab = NK_H1(x[0], x[1]) + NK_H2(x[0], x[1]), cd = NK_H1(x[2], x[3]) + NK_H2(x[2], x[3]);
    vf v = NK_Q1(ab, cd) + NK_Q2(ab, cd);
#if NK_G == 4
    v = v + NK_X2(v);
#endif
#if NK_G >= 2
    v = v + NK_X1(v);
#endif
    return NK_PICK4(v);
}

/// M: the online softmax of the item's rows on its scores `p`, in place: running max m,
/// running sum l, each row's sum over this key block (`blockSum`, for the block mass) and
/// the factor `scale` the row's output so far is rescaled by. The 4 rows go together: their
/// maxima and sums are reduced in one pass of shuffles (`hmax4`, `hsum4`) and the running
/// values updated as 4-float vectors.
static inline __attribute__((always_inline)) void NK(item_softmax)(const nabla_attn_block *job, const nabla_attn_workspace *ws,
                                                                NK(item) it, float *p, vf *rowmax,
                                                                v4 *blockSum, float *scale) {
    const int width = job->bk - it.c < 64 ? job->bk - it.c : 64;
    const int valid = NK(valid_keys)(job, it);
    float *m = ws->m + it.t, *l = ws->l + it.t;
    if (valid < width)
        for (int r = 0; r < 4; r++) {
            float *row = p + r * 64;
            for (int j = valid; j < width; j++) row[j] = -__builtin_inff();
            vf mx = SPLATF(-__builtin_inff());
            for (int j = 0; j < width; j += VF) {
                vf x = LOADF(row + j);
                mx = NK_MAXF(mx, x);
            }
            rowmax[r] = mx;
        }
    const v4 top = NK(hmax4)(rowmax);
    const v4 mOld = *(const v4 *)(const void *)m;
    // The running maximum moves only when a row's scores pass it by more than NK_LAZY
    // (FlashAttention-4's conditional rescaling): the result is the same for any reference
    // value (O and l are both relative to it), and below it the exponentials stay under
    // 2^NK_LAZY, far from float's range; the output tile is then rescaled rarely.
    const v4i grew = top > mOld + (v4){NK_LAZY, NK_LAZY, NK_LAZY, NK_LAZY};
    const v4 mNew = (v4)(((v4i)mOld & ~grew) | ((v4i)top & grew));
    // The rescale factor 2^(mOld - mNew): 0 for a row's first keys (mOld = -inf), exactly 1
    // when the maximum did not move (also when both are -inf).
    const v4i same = mOld == mNew;
    const vf wide = NK(exp2v)(NK_WIDEN4(mOld - mNew));
    v4 sc = __builtin_shufflevector(wide, wide, 0, 1, 2, 3);
    sc = (v4)(((v4i)sc & ~same) | ((v4i)(v4){1.0f, 1.0f, 1.0f, 1.0f} & same));
    vf sum[4];
    if (width == 64) {
#pragma clang loop unroll(full)
        for (int r = 0; r < 4; r++) {
            const vf mv = SPLATF(mNew[r]);
            float *row = p + r * 64;
            vf acc = (vf){0};
#pragma clang loop unroll(full)
            for (int j = 0; j < 64; j += VF) {
                vf e = NK(exp2v)(LOADF(row + j) - mv);
                STOREF(row + j, e);
                acc += e;
            }
            sum[r] = acc;
        }
    } else {
        for (int r = 0; r < 4; r++) {
            const vf mv = SPLATF(mNew[r]);
            float *row = p + r * 64;
            vf acc = (vf){0};
            for (int j = 0; j < width; j += VF) {
                vf e = NK(exp2v)(LOADF(row + j) - mv);
                STOREF(row + j, e);
                acc += e;
            }
            sum[r] = acc;
        }
    }
    const v4 rowSum = NK(hsum4)(sum);
    *(v4 *)(void *)l = *(const v4 *)(const void *)l * sc + rowSum;
    *blockSum = it.c == 0 ? rowSum : *blockSum * sc + rowSum;
    *(v4 *)(void *)m = mNew;
    *(v4 *)(void *)scale = sc;
    // After the block's last chunk: the rows' sums over the block and the maxima they are
    // relative to, for the block mass.
    if (job->mass != NULL && it.c + 64 >= job->bk)
        for (int r = 0; r < 4; r++) {
            ws->mass_sum[(it.t + r) * ws->npad + it.kb] = (*blockSum)[r];
            ws->mass_max[(it.t + r) * ws->npad + it.kb] = mNew[r];
        }
}

/// P: o[rows] = o[rows] * scale + P V over the item's valid keys.
static inline __attribute__((always_inline)) void NK(item_pv)(const nabla_attn_block *job, const nabla_attn_workspace *ws,
                                                           NK(item) it, const float *p, const float *scale,
                                                           const char *pf) {
    const int dv = job->dv, valid = NK(valid_keys)(job, it);
    const float *vc = job->v + ((size_t)it.kb * job->bk + it.c) * dv;
    float *ot = ws->o + (size_t)it.t * dv;
    int g = 0;
    for (; g + ATT_NV * VF <= dv; g += ATT_NV * VF, pf = (const char *)vc)
        NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, ATT_NV, pf);
    if (ATT_NV > 2)
        for (; g + 2 * VF <= dv; g += 2 * VF, pf = (const char *)vc) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, 2, pf);
    for (; g < dv; g += VF, pf = (const char *)vc) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, 1, pf);
}

/// While the items of the kept block at `index` are worked, item `part` of its `per` items
/// prefetches its share of the next kept block's K^T and V into L2, one line per 4 steps of
/// the score and P V loops (`scores`, `pv`: in the load slots their multiply-adds leave
/// free): the next block is known (`keys`), but in a sparse row it is rarely adjacent to
/// this one, which the hardware's stream prefetchers cannot foresee. The last block
/// "prefetches" itself (already in cache).
static inline __attribute__((always_inline)) void NK(prefetch_shares)(const nabla_attn_block *job, int index, int part,
                                                                   int per, const char **k, const char **v) {
    const int next = job->keys[index + 1 < job->count ? index + 1 : index];
    const size_t kBytes = (size_t)job->d * job->bk * 4, vBytes = (size_t)job->bk * job->dv * 4;
    *k = (const char *)(job->kT + (size_t)next * job->d * job->bk) + part * (kBytes / per);
    *v = job->v ? (const char *)(job->v + (size_t)next * job->bk * job->dv) + part * (vBytes / per) : *k;
}

static void NK(attn_query_block)(const nabla_attn_block *job, const nabla_attn_workspace *ws) {
    const int n = job->n, b = job->b, bq = job->bq, d = job->d, dv = job->dv;
    float *o = ws->o, *m = ws->m, *l = ws->l;
    const int npad = ws->npad;
    const int record = job->mass != NULL;
    for (int i = 0; i < bq * dv; i++) o[i] = 0;
    for (int r = 0; r < bq; r++) { m[r] = -__builtin_inff(); l[r] = 0; }
    if (record)
        for (int i = 0; i < bq * npad; i++) { ws->mass_sum[i] = 0; ws->mass_max[i] = 0; }
    // Items in order (key block, tile, chunk); S(i+1), P(i), M(i+1), two score buffers.
    const int perBlock = ((job->bk + 63) / 64) * (bq / 4), items = job->count * perBlock;
    float *buffer[2] = {ws->p, ws->p + 4 * 64};
    vf rowmax[4];
    float scale[2][4];
    v4 blockSum = {0, 0, 0, 0};
    NK(item) here = {0, items > 0 ? job->keys[0] : 0, 0, 0};
    if (items > 0) {
        NK(item_scores)(job, here, buffer[0], rowmax, (const char *)job->kT);
        NK(item_softmax)(job, ws, here, buffer[0], rowmax, &blockSum, scale[0]);
    }
    for (int i = 0, part = 0; i < items; i++) {
        const int now = i & 1, next = now ^ 1;
        const NK(item) ahead = NK(item_next)(job, here);
        const char *pk, *pv;
        NK(prefetch_shares)(job, here.index, part, perBlock, &pk, &pv);
        if (i + 1 < items) NK(item_scores)(job, ahead, buffer[next], rowmax, pk);
        if (job->v) NK(item_pv)(job, ws, here, buffer[now], scale[now], pv);
        if (i + 1 < items) NK(item_softmax)(job, ws, ahead, buffer[next], rowmax, &blockSum, scale[next]);
        here = ahead;
        part = part + 1 == perBlock ? 0 : part + 1;
    }
    // Rows out: O / l to the stored rows.
    // A partial query block's real rows (issue 18); the rest are padding, never written.
    const int rows = job->rows > 0 ? job->rows : b;
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

#undef v4
#undef v4i
#undef NK_G
#undef NK_H1
#undef NK_H2
#undef NK_Q1
#undef NK_Q2
#undef NK_PICK4
#undef NK_X2
#undef NK_X1
#undef NK_WIDEN4
#undef NK_MAXF
