// The x86-64 levels: baseline (SSE2, no attribute needed), AVX2+FMA and AVX-512, each
// the same source (kernels_impl.h) compiled under a per-function target attribute, so the
// package needs no compiler flags and one binary holds all three (docs/engine.md).
#if defined(__x86_64__)
#include <immintrin.h>
#include "kernels_common.h"

// Baseline: 16 xmm registers, 4 floats or 2 doubles each, no FMA.
#define NK(name) name##_baseline
#define VF 4
#define VD 2
#define NK_FMA 0
#define ATT_NV 2
#define MAP_MR 6
#define MAP_NV 2
#define POOL_NV8 1
#define NK_F16C 0
#define NK_SCALEF 0
#define NK_LEVEL NABLA_ISA_BASELINE
#define NK_NAME "baseline"
#include "kernels_impl.h"

// AVX2 + FMA: 16 ymm registers. Score and P.V tiles of 4 rows x 2 vectors (8 accumulators,
// 2 loads, 1 broadcast live); the map's 6 x 2 tile of doubles (12 accumulators).
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define NK(name) name##_avx2
#define VF 8
#define VD 4
#define NK_FMA 1
#define ATT_NV 2
#define MAP_MR 6
#define MAP_NV 2
#define POOL_NV8 2
#define NK_F16C 1
#define NK_SCALEF 0
#define NK_LEVEL NABLA_ISA_AVX2
#define NK_NAME "avx2"
#include "kernels_impl.h"
#pragma clang attribute pop

// AVX-512: 32 zmm registers. Score and P.V tiles of 4 rows x 4 vectors (16 accumulators,
// 4 loads, broadcasts live); the map's 12 x 2 tile of doubles (24 accumulators).
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,f16c"))), apply_to = function)
#define NK(name) name##_avx512
#define VF 16
#define VD 8
#define NK_FMA 1
#define ATT_NV 4
#define MAP_MR 12
#define MAP_NV 2
#define POOL_NV8 4
#define NK_F16C 1
#define NK_SCALEF 1
#define NK_LEVEL NABLA_ISA_AVX512
#define NK_NAME "avx512"
#include "kernels_impl.h"
#pragma clang attribute pop
#endif
