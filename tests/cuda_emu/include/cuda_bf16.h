// Stand-in for CUDA's <cuda_bf16.h> in the kernel emulator: the bf16 storage
// type and its conversions, with the hardware's rounding (to nearest, ties to
// even; NaN stays NaN), so bf16-mode GEMM inputs hold the GPU's values.
#ifndef TESTS_CUDA_EMU_CUDA_BF16_H
#define TESTS_CUDA_EMU_CUDA_BF16_H

#include <math.h>
#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
    uint16_t bits;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (isnan(f)) return __nv_bfloat16{(uint16_t)((u >> 16) | 0x0040u)}; // quiet NaN, sign kept
    u += 0x7FFFu + ((u >> 16) & 1u); // ties go to the even upper half
    return __nv_bfloat16{(uint16_t)(u >> 16)};
}

inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.bits << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
