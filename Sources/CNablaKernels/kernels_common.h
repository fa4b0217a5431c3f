// Shared by every level's kernels (included before kernels_impl.h).
#ifndef NABLA_KERNELS_COMMON_H
#define NABLA_KERNELS_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include "nabla_kernels.h"

// Contraction off: `a * b + c` rounds twice everywhere; only explicit FMAs fuse.
#pragma clang fp contract(off)

/// An IEEE binary16 value as a float, exactly (subnormals, infinities and NaNs included).
static inline float nabla_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        const float f = (float)mant * 5.9604644775390625e-8f;  // mant * 2^-24, exact
        return sign ? -f : f;
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}
#endif
