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

/// Where item `i` of a query block is: the kept key block's index, the tile's first row
/// and the chunk's first key.
typedef struct NK(item) { int kb, t, c; } NK(item);

static inline __attribute__((always_inline)) NK(item) NK(item_at)(const nabla_attn_block *job, int i) {
    const int chunks = (job->bk + 63) / 64, tiles = job->bq / 4;
    const int perBlock = chunks * tiles;
    const int index = i / perBlock, rest = i % perBlock;
    return (NK(item)){job->keys[index], rest / chunks * 4, rest % chunks * 64};
}

/// S: the scores of the item's 4 rows against its chunk's keys into `p` (4 x 64), and
/// each row's maximum over them (padded keys score 0: M takes those rows' maxima again).
static inline __attribute__((always_inline)) void NK(item_scores)(const nabla_attn_block *job, NK(item) it,
                                                               float *p, vf *rowmax) {
    const int bk = job->bk, d = job->d;
    const int width = bk - it.c < 64 ? bk - it.c : 64;
    const float *qt = job->q + (size_t)it.t * d;
    const float *kc = job->kT + (size_t)it.kb * d * bk + it.c;
    for (int r = 0; r < 4; r++) rowmax[r] = SPLATF(-__builtin_inff());
    int w = 0;
    for (; w + ATT_NV * VF <= width; w += ATT_NV * VF) NK(scores)(qt, d, kc + w, bk, p + w, ATT_NV, rowmax);
    if (ATT_NV > 2)
        for (; w + 2 * VF <= width; w += 2 * VF) NK(scores)(qt, d, kc + w, bk, p + w, 2, rowmax);
    for (; w < width; w += VF) NK(scores)(qt, d, kc + w, bk, p + w, 1, rowmax);
}

/// The real keys of the item's chunk: the key block's count (`key_counts`, partial edge
/// blocks, issue 18; `b` when NULL) past the chunk's start, at most 64, at least 0 (a
/// chunk past a partial block's keys scores -inf throughout and adds nothing).
static inline __attribute__((always_inline)) int NK(valid_keys)(const nabla_attn_block *job, NK(item) it) {
    const int count = job->key_counts ? job->key_counts[it.kb] : job->b;
    const int valid = count - it.c;
    return valid < 0 ? 0 : (valid < 64 ? valid : 64);
}

/// M: the online softmax of the item's rows on its scores `p`, in place: running max m,
/// running sum l, each row's sum over this key block (`blockSum`, for the block mass) and
/// the factor `scale` the row's output so far is rescaled by.
static inline __attribute__((always_inline)) void NK(item_softmax)(const nabla_attn_block *job, const nabla_attn_workspace *ws,
                                                                NK(item) it, float *p, const vf *rowmax,
                                                                float *blockSum, float *scale) {
    const int width = job->bk - it.c < 64 ? job->bk - it.c : 64;
    const int valid = NK(valid_keys)(job, it);
    float *m = ws->m + it.t, *l = ws->l + it.t;
    if (it.c == 0)
        for (int r = 0; r < 4; r++) blockSum[r] = 0;
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
        const float mOld = m[r];
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
        l[r] = l[r] * sc + rowSum;
        blockSum[r] = blockSum[r] * sc + rowSum;
        m[r] = mNew;
        scale[r] = sc;
    }
    // After the block's last chunk: the rows' sums over the block and the maxima they are
    // relative to, for the block mass.
    if (job->mass != NULL && it.c + 64 >= job->bk)
        for (int r = 0; r < 4; r++) {
            ws->mass_sum[(it.t + r) * ws->npad + it.kb] = blockSum[r];
            ws->mass_max[(it.t + r) * ws->npad + it.kb] = m[r];
        }
}

/// P: o[rows] = o[rows] * scale + P V over the item's valid keys.
static inline __attribute__((always_inline)) void NK(item_pv)(const nabla_attn_block *job, const nabla_attn_workspace *ws,
                                                           NK(item) it, const float *p, const float *scale) {
    const int dv = job->dv, valid = NK(valid_keys)(job, it);
    const float *vc = job->v + ((size_t)it.kb * job->bk + it.c) * dv;
    float *ot = ws->o + (size_t)it.t * dv;
    int g = 0;
    for (; g + ATT_NV * VF <= dv; g += ATT_NV * VF) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, ATT_NV);
    if (ATT_NV > 2)
        for (; g + 2 * VF <= dv; g += 2 * VF) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, 2);
    for (; g < dv; g += VF) NK(pv)(p, valid, vc + g, dv, ot + g, dv, scale, 1);
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
    const int items = job->count * ((job->bk + 63) / 64) * (bq / 4);
    float *buffer[2] = {ws->p, ws->p + 4 * 64};
    vf rowmax[4];
    float scale[2][4], blockSum[4];
    if (items > 0) {
        const NK(item) first = NK(item_at)(job, 0);
        NK(item_scores)(job, first, buffer[0], rowmax);
        NK(item_softmax)(job, ws, first, buffer[0], rowmax, blockSum, scale[0]);
    }
    for (int i = 0; i < items; i++) {
        const int now = i & 1, next = now ^ 1;
        const NK(item) here = NK(item_at)(job, i);
        NK(item) ahead = here;
        if (i + 1 < items) {
            ahead = NK(item_at)(job, i + 1);
            NK(item_scores)(job, ahead, buffer[next], rowmax);
        }
        if (job->v) NK(item_pv)(job, ws, here, buffer[now], scale[now]);
        if (i + 1 < items) NK(item_softmax)(job, ws, ahead, buffer[next], rowmax, blockSum, scale[next]);
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

