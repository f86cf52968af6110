/* GELU in single precision, exact erf form (BERT and ViT; PyTorch's
 * nn.GELU default): GELU(x) = x·Φ(x), GELU'(x) = Φ(x) + x·φ(x), with Φ and φ
 * the standard normal CDF and density.
 *
 * One implementation for the CPU op (autograd/ops/op_activation.c) and the
 * CUDA kernels (cuda/elementwise.cu), so that both backends compute the same
 * bits: it uses only IEEE-exact operations (+, -, *, fmaf, rintf, fabsf, a
 * power of two built from its bits) and writes every multiply-add as an
 * explicit fmaf, because nvcc fuses a·b + c by default and gcc in ISO C mode
 * never does. Before this the op ran
 * erf and exp in double per element, a quarter of the PGR step on one CPU
 * thread (bench/README.md), and the two backends' double erf agreed only
 * after rounding to float.
 *
 * The approximations are this project's fits (least squares on Chebyshev
 * nodes in double, each coefficient rounded to float in turn and the rest
 * refitted; the errors below are of the fits with float coefficients):
 *   Φ(x) = 1/2 + x·P(x²) for |x| < 1, relative error 1.9e-9;
 *   P(N(0,1) > x) = e^(-x²/2) e^S(x) for x >= 1, S fitting log P(N > x) + x²/2
 *     to 1.2e-7 on [1, 5.5) and 2.1e-8 on [5.5, 13.5) (below 1e-40 beyond);
 *   e^r = R(r) on |r| <= ln2/2, relative error 3.7e-9, after e^y = 2^k e^r.
 * Measured in float against double erfc and exp on 2^23 + 1 points of
 * [-12.5, 12.5] (tests/test_gelu_math.c): Φ and GELU within 7 ulp (the lower
 * tail included: Φ(-12.5) = 3.8e-36), GELU' within 4 ulp of the larger of Φ
 * and |x·φ| (the sum cancels near x = -0.75), e^y within 1 ulp. */
#ifndef AUTOGRAD_GELU_MATH_H
#define AUTOGRAD_GELU_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define GELU_HOST_DEVICE __host__ __device__
#else
#define GELU_HOST_DEVICE
#endif

/* 2^k for -126 <= k <= 127, from its bits (ldexpf is a library call on the host). */
static inline GELU_HOST_DEVICE float gelu_pow2i(int k) {
    uint32_t bits = (uint32_t)(k + 127) << 23;
#ifdef __CUDA_ARCH__
    return __uint_as_float(bits);
#else
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

/* c[0] + z·(c[1] + z·(... + z·c[n-1])), every step one fmaf. */
static inline GELU_HOST_DEVICE float gelu_horner(float z, const float *c, int n) {
    float s = c[n - 1];
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int k = n - 2; k >= 0; k--) s = fmaf(s, z, c[k]);
    return s;
}

/* e^y for y <= 0 (NaN stays NaN; subnormal results included, 0 below -104):
 * Cody-Waite reduction y = k·ln2 + r, ln2 split so that k·ln2_hi is exact
 * for |k| <= 2^8, then a degree-6 polynomial and 2^k as two normal factors,
 * 2^(k+64)·2^-64 when the result is subnormal (the second product is then its
 * one rounding; otherwise it is ·1). No branches, here and below: the CPU
 * loops vectorize (#pragma omp simd) and the values are the same. */
static inline GELU_HOST_DEVICE float gelu_exp_f32(float y) {
    float k = rintf(y * 1.44269504f);
    float r = fmaf(k, -0.693145751953125f, y);
    r = fmaf(k, -1.42860677e-06f, r);
    const float c[7] = {1.0f, 1.0f, 4.999998808e-01f, 1.666651815e-01f, 4.166964814e-02f, 8.368944749e-03f,
                        1.374530373e-03f};
    float p = gelu_horner(r, c, 7);
    float kc = k >= -150.0f ? k : -150.0f; /* NaN too: the int conversion needs a number, p carries the NaN */
    kc = kc > 0.0f ? 0.0f : kc;
    int ki = (int)kc, low = ki < -126 ? -64 : 0;
    float e = p * gelu_pow2i(ki - low) * gelu_pow2i(low);
    return y < -104.0f ? 0.0f : e;
}

/* e^(-x²/2), from x² = hi + lo (exact): e^(-hi/2) on its own and
 * e^(-lo/2) = 1 - lo/2 (|lo| is below an ulp of hi). Rounding x² or x/√2
 * first would cost that rounding error times x² in the result. */
static inline GELU_HOST_DEVICE float gelu_gauss_f32(float x) {
    float hi = x * x, lo = fmaf(x, x, -hi);
    float e = gelu_exp_f32(-0.5f * hi);
    return fmaf(-0.5f * lo, e, e);
}

/* P(N(0,1) > x) for x >= 1 (NaN stays NaN): e^(-x²/2 + S(x)), S fitting
 * log P(N > x) + x²/2 on [1, 5.5) and [5.5, 13.5), both evaluated and one
 * chosen; 0 from 13.5 on (below 1e-40). */
static inline GELU_HOST_DEVICE float gelu_upper_tail_f32(float x) {
    const float near[10] = {-2.107726336e+00f, -2.830986977e-01f, 3.528006375e-02f, -5.244987085e-03f,
                            7.882246864e-04f,  -1.132313628e-04f, 1.508313562e-05f, -1.653467621e-06f,
                            7.485414955e-08f,  7.751250308e-09f};
    const float far[10] = {-3.181019306e+00f, -1.030500978e-01f, 5.202383269e-03f, -3.433021484e-04f,
                           2.501319796e-05f,  -1.906605348e-06f, 1.447044724e-07f, -1.124958882e-08f,
                           1.158923402e-09f,  -9.291174080e-11f};
    float s1 = gelu_horner(x - 3.0f, near, 10); /* x - 3 exact on [1, 5.5) */
    float s2 = gelu_horner(x - 9.5f, far, 10);  /* x - 9.5 exact on [5.5, 13.5) */
    float tail = gelu_gauss_f32(x) * gelu_exp_f32(x < 5.5f ? s1 : s2);
    return x >= 13.5f ? 0.0f : tail;
}

/* Φ(x) = P(N(0,1) <= x): 1/2 + x·P(x²) for |x| < 1, else from the upper
 * tail, so that Φ keeps its relative accuracy below 0 (no 1 + erf). */
static inline GELU_HOST_DEVICE float gelu_cdf_f32(float x) {
    const float c[6] = {3.989422917e-01f, -6.649059057e-02f, 9.974602610e-03f, -1.189229195e-03f,
                        1.163652487e-04f, -8.694948519e-06f};
    float ax = fabsf(x), p = gelu_horner(x * x, c, 6);
    float tail = gelu_upper_tail_f32(ax);
    return ax < 1.0f ? fmaf(x, p, 0.5f) : x < 0.0f ? tail : 1.0f - tail;
}

/* GELU(x) = x·Φ(x). */
static inline GELU_HOST_DEVICE float gelu_f32(float x) { return x * gelu_cdf_f32(x); }

/* GELU'(x) = Φ(x) + x·φ(x), φ(x) = e^(-x²/2)/√(2π). */
static inline GELU_HOST_DEVICE float gelu_grad_f32(float x) {
    return fmaf(x, 0.398942280f * gelu_gauss_f32(x), gelu_cdf_f32(x));
}

#endif
