// Shared by the kernel files of the CUDA backend: error checks, the stream,
// launch geometry, warp reductions and the device Philox (core/rng.h layout).
#ifndef CUDA_COMMON_CUH
#define CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "autograd/device_kernels.h"
#include "core/error.h"
#include "cuda/backend.h"
}

// A failed CUDA call is a broken machine or a programming error: stop with
// the call, the place and CUDA's reason.
#define CUDA_CHECK(call)                                                                               \
    do {                                                                                               \
        cudaError_t err_ = (call);                                                                     \
        if (err_ != cudaSuccess)                                                                       \
            fatal("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, cudaGetErrorString(err_));       \
    } while (0)
#define CUBLAS_CHECK(call)                                                                             \
    do {                                                                                               \
        cublasStatus_t st_ = (call);                                                                   \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                              \
            fatal("%s:%d: %s failed: %s (cuBLAS status %d)", __FILE__, __LINE__, #call,                \
                  cublasLtGetStatusString(st_), (int)st_);                                             \
    } while (0)
// After every launch (and every cuBLASLt call or stream copy, through
// cuda_op_done): catches a bad launch configuration at its call site; with
// MMU_CUDA_SYNC=1 in the environment it also waits for the kernel, so that a
// fault inside it is reported at this launch, naming the function and line,
// instead of at some later call; while cuda_profile_begin() is on it records
// the operation's completion event (cuda/profile.cu).
#define CUDA_LAUNCH_CHECK() cuda_launch_done(__func__, __FILE__, __LINE__)
void cuda_launch_done(const char *func, const char *file, int line);
// The same for an operation that is not a kernel of ours; `label` names it
// (a cuBLASLt GEMM with its shape, a copy).
void cuda_op_done(const char *label);
// 1 when cuda_op_done wants a label (sync mode or profiling): callers format
// one only then.
int cuda_op_labels_wanted(void);

cudaStream_t cuda_stream(void);
cublasLtHandle_t cuda_blaslt(void);
// cuBLASLt's workspace (one allocation at init).
void *cuda_gemm_workspace(size_t *bytes);
// Scratch device memory that lives until the next step (the device arena).
void *cuda_scratch(size_t bytes);

static inline unsigned int cuda_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535LL * 512) b = 65535LL * 512; // grid-stride loops cover the rest
    return (unsigned int)b;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Typed element access for activations stored as DType t (issue 5
// "Precision": under --precision bf16 the matmul-class outputs are bf16, and
// the kernels that read or write them compute in f32 in between). bf16 widens
// exactly and is stored rounded to nearest even; f32 passes through, so the
// fp32 arithmetic is unchanged. t is uniform across a launch: no divergence.
__device__ __forceinline__ float load_f32(const void *p, DType t, int64_t k) {
    return t == DTYPE_BF16 ? __bfloat162float(((const __nv_bfloat16 *)p)[k]) : ((const float *)p)[k];
}
__device__ __forceinline__ void store_f32(void *p, DType t, int64_t k, float v) {
    if (t == DTYPE_BF16) ((__nv_bfloat16 *)p)[k] = __float2bfloat16_rn(v);
    else ((float *)p)[k] = v;
}

// What a gradient output holds before a backward's write: 0 for a stored one
// (its first writer's fresh buffer, never zero-filled: device_kernels.h
// "Conventions"), so that storing gives the bits of adding to zeros.
#define GRAD_BEFORE(p, k, store) ((store) ? 0.0f : (p)[k])

// Block-wide sum (max) of one value per thread, returned to every thread.
// `red` is __shared__ with one slot per warp (32 suffice); the leading
// barrier lets a kernel call these back to back. blockDim.x must be a
// multiple of 32. Fixed order: the same inputs give the same bits.
__device__ __forceinline__ double block_sum_d(double v, double *red) {
    v = warp_sum_d(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    return warp_sum_d(lane < warps ? red[lane] : 0.0);
}
__device__ __forceinline__ float block_max_f(float v, float *red) {
    v = warp_max(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? red[lane] : -INFINITY);
}

// Philox4x32-10, bit-identical to core/rng.c: element `index` of (seed,
// stream) takes word index % 4 of the block counter {index/4, stream}.
__device__ __forceinline__ void philox4x32_10_dev(uint32_t c[4], uint32_t k0, uint32_t k1) {
#pragma unroll
    for (int round = 0; round < 10; round++) {
        uint32_t hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        uint32_t hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        uint32_t n0 = hi1 ^ c[1] ^ k0, n1 = lo1, n2 = hi0 ^ c[3] ^ k1, n3 = lo0;
        c[0] = n0; c[1] = n1; c[2] = n2; c[3] = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}
__device__ __forceinline__ float philox_uniform_dev(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t block = index >> 2;
    uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    philox4x32_10_dev(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    return (float)(c[index & 3] >> 8) * (1.0f / 16777216.0f);
}

// The per-block partials of Σ x (w NULL) or Σ x·w over n floats, in double and
// in an order fixed by n (cuda/reduce.cu); *count of them, in scratch memory.
double *cuda_sum_partials(const float *x, const float *w, int64_t n, int *count);

// Each kernel file fills its part of the table (cuda/backend.cu calls them all).
void cuda_fill_gemm(DeviceKernels *k);
void cuda_fill_elementwise(DeviceKernels *k);
void cuda_fill_shape(DeviceKernels *k);
void cuda_fill_reduce(DeviceKernels *k);
void cuda_fill_misc(DeviceKernels *k);      // dropout, patchify, spmm
void cuda_fill_norm(DeviceKernels *k);      // softmax, log-softmax, layernorm, l2-normalize
void cuda_fill_loss(DeviceKernels *k);
void cuda_fill_attention(DeviceKernels *k);
void cuda_fill_sampling(DeviceKernels *k);  // ALBEF's hard negatives
void cuda_fill_optim(DeviceKernels *k);
void cuda_fill_param_copies(DeviceKernels *k);
void cuda_fill_div_scalar(DeviceKernels *k);

#endif
