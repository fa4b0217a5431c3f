// Which levels this CPU and OS can run: CPUID feature bits, and XGETBV for whether the OS
// saves the ymm / zmm state on context switches (a CPU with AVX under an OS that does not
// would fault on the first ymm instruction). Read once, like PyTorch's cpuinfo-based
// `get_cpu_capability` and ggml's `ggml_cpu_has_*`.
#include "kernels_common.h"

#if defined(__x86_64__)
#include <cpuid.h>
extern const nabla_kernels nabla_kernels_baseline, nabla_kernels_avx2, nabla_kernels_avx512;

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int detect_avx2 = -1, detect_avx512 = -1;

static void detect(void) {
    unsigned a, b, c, d;
    int avx2 = 0, avx512 = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
        if (osxsave && avx) {
            const uint64_t xcr0 = xgetbv0();
            const int ymm = (xcr0 & 0x6) == 0x6;            // SSE and AVX state
            const int zmm = (xcr0 & 0xe6) == 0xe6;          // and opmask, ZMM_Hi256, Hi16_ZMM
            unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
            if (__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) {
                const int has_avx2 = (b7 >> 5) & 1;
                const int f = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1;
                avx2 = ymm && has_avx2 && fma && f16c;
                avx512 = avx2 && zmm && f && dq && bw && vl;
            }
        }
    }
    detect_avx512 = avx512;
    detect_avx2 = avx2;
}

int nabla_isa_supported(nabla_isa isa) {
    if (detect_avx2 < 0) detect();
    switch (isa) {
    case NABLA_ISA_BASELINE: return 1;
    case NABLA_ISA_AVX2: return detect_avx2;
    case NABLA_ISA_AVX512: return detect_avx512;
    default: return 0;
    }
}

nabla_isa nabla_isa_best(void) {
    if (nabla_isa_supported(NABLA_ISA_AVX512)) return NABLA_ISA_AVX512;
    if (nabla_isa_supported(NABLA_ISA_AVX2)) return NABLA_ISA_AVX2;
    return NABLA_ISA_BASELINE;
}

const nabla_kernels *nabla_kernels_for(nabla_isa isa) {
    if (!nabla_isa_supported(isa)) return NULL;
    switch (isa) {
    case NABLA_ISA_BASELINE: return &nabla_kernels_baseline;
    case NABLA_ISA_AVX2: return &nabla_kernels_avx2;
    case NABLA_ISA_AVX512: return &nabla_kernels_avx512;
    default: return NULL;
    }
}

#elif defined(__aarch64__)
extern const nabla_kernels nabla_kernels_neon;
int nabla_isa_supported(nabla_isa isa) { return isa == NABLA_ISA_NEON; }
nabla_isa nabla_isa_best(void) { return NABLA_ISA_NEON; }
const nabla_kernels *nabla_kernels_for(nabla_isa isa) { return isa == NABLA_ISA_NEON ? &nabla_kernels_neon : NULL; }

#else
int nabla_isa_supported(nabla_isa isa) { (void)isa; return 0; }
nabla_isa nabla_isa_best(void) { return NABLA_ISA_BASELINE; }
const nabla_kernels *nabla_kernels_for(nabla_isa isa) { (void)isa; return NULL; }
#endif

size_t nabla_map_scratch(int32_t m, int32_t n, int32_t d) {
    // Rows rounded up to the largest tile (12) and the keys to the largest panel (16).
    const size_t rows = ((size_t)m + 11) / 12 * 12 + 12;
    return rows * (size_t)d + rows * ((size_t)n + 16);
}
