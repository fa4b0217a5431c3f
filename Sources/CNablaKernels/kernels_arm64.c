// The arm64 level: Advanced SIMD (NEON), part of every arm64 CPU, so no attribute and no
// run-time check. 32 q registers: score and P.V tiles of 4 rows x 4 vectors (16
// accumulators), the map's 6 x 4 tile of doubles (24 accumulators).
#if defined(__aarch64__)
#include "kernels_common.h"
#define NK(name) name##_neon
#define VF 4
#define VD 2
#define NK_FMA 1
#define ATT_NV 4
#define MAP_MR 6
#define MAP_NV 4
#define POOL_NV8 2
#define NK_F16C 0
#define NK_SCALEF 0
#define NK_LEVEL NABLA_ISA_NEON
#define NK_NAME "neon"
#include "kernels_impl.h"
#endif
