// AdamW and SGD updates of one parameter tensor (autograd/device_kernels.h
// "optimizers"), element by element as nn/optim.c's loops, and the clamp of
// a parameter into a range. The CPU build does not contract a·b + c into an
// FMA (-std=c11), so the same float expressions are written with the
// rounding intrinsics, which nvcc never fuses: a device step then equals the
// CPU step bit for bit. Each kernel also writes the new value, cast, into the
// parameter's slice of its block's bf16 copy when that copy is current
// (cuda/param_copies.cu), so the next step's products read it without a cast.
#include "cuda/common.cuh"
#include "cuda/param_copies.cuh"

#define THREADS 256

__global__ void adamw_update_kernel(float *p, __nv_bfloat16 *p_bf16, const float *g, float *m, float *v, int64_t n,
                                    float keep, float beta1, float beta2, float step_size, float bc2_sqrt,
                                    float eps) {
    const float one_minus_b1 = __fsub_rn(1.0f, beta1), one_minus_b2 = __fsub_rn(1.0f, beta2);
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const float ge = g[e];
        const float pe = __fmul_rn(p[e], keep);
        const float me = __fadd_rn(__fmul_rn(m[e], beta1), __fmul_rn(ge, one_minus_b1));
        const float ve = __fadd_rn(__fmul_rn(v[e], beta2), __fmul_rn(__fmul_rn(one_minus_b2, ge), ge));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(ve), bc2_sqrt), eps);
        m[e] = me;
        v[e] = ve;
        const float pn = __fadd_rn(pe, __fdiv_rn(__fmul_rn(-step_size, me), denom));
        p[e] = pn;
        if (p_bf16 != NULL) p_bf16[e] = __float2bfloat16_rn(pn);
    }
}

static void adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float keep, float beta1,
                         float beta2, float step_size, float bc2_sqrt, float eps) {
    if (n <= 0) return;
    adamw_update_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(
        p, param_copy_update_slice(p, n), g, m, v, n, keep, beta1, beta2, step_size, bc2_sqrt, eps);
    CUDA_LAUNCH_CHECK();
}

__global__ void sgd_update_kernel(float *p, __nv_bfloat16 *p_bf16, const float *g, float *buf, int64_t n, float lr,
                                  float momentum, float weight_decay) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        float d = weight_decay != 0.0f ? __fadd_rn(g[e], __fmul_rn(weight_decay, p[e])) : g[e];
        if (momentum != 0.0f) {
            d = __fadd_rn(__fmul_rn(buf[e], momentum), d);
            buf[e] = d;
        }
        const float pn = __fsub_rn(p[e], __fmul_rn(lr, d));
        p[e] = pn;
        if (p_bf16 != NULL) p_bf16[e] = __float2bfloat16_rn(pn);
    }
}

static void sgd_update(float *p, const float *g, float *buf, int64_t n, float lr, float momentum,
                       float weight_decay) {
    if (n <= 0) return;
    sgd_update_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(p, param_copy_update_slice(p, n), g,
                                                                              buf, n, lr, momentum, weight_decay);
    CUDA_LAUNCH_CHECK();
}

__global__ void param_clamp_kernel(float *p, __nv_bfloat16 *p_bf16, int64_t n, float lo, float hi) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        const float v = p[e], c = v < lo ? lo : v > hi ? hi : v;
        p[e] = c;
        if (p_bf16 != NULL) p_bf16[e] = __float2bfloat16_rn(c);
    }
}

static void param_clamp(float *p, int64_t n, float lo, float hi) {
    if (n <= 0) return;
    param_clamp_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(p, param_copy_update_slice(p, n), n,
                                                                               lo, hi);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_optim(DeviceKernels *k) {
    k->adamw_update = adamw_update;
    k->sgd_update = sgd_update;
    k->param_clamp = param_clamp;
}
