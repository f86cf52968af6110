// The optimizers' device steps (autograd/device_kernels.h "optimizers"):
// AdamW over all trainable tensors of a block in one launch, SGD one tensor a
// launch, and the clamp of a parameter into a range, element by element as
// nn/optim.c's loops. The CPU build does not contract a·b + c into an FMA
// (-std=c11), so the same float expressions are written with the rounding
// intrinsics, which nvcc never fuses: a device step then equals the CPU step
// bit for bit. Each kernel also writes the new value, cast, into the
// parameter's slice of its block's bf16 copy when that copy is current
// (cuda/param_copies.cu), so the next step's products read it without a cast.
#include <stdlib.h>
#include <string.h>

#include "cuda/common.cuh"
#include "cuda/param_copies.cuh"

extern "C" {
#include "core/device.h"
}

#define THREADS 256

// ---- AdamW: every trainable tensor of a block in one launch ----
// The table of tensors lives on the device; each tensor is cut into chunks of
// CHUNK elements and each block of the grid updates one chunk, found by its
// index (a binary search over the tensors' first chunks).

#define CHUNK 65536

typedef struct {
    int64_t offset, n, first_chunk, decay; // all 64-bit: no padding, so tables compare with memcmp
} AdamwTensor;

static struct {
    AdamwTensor *sent, *wanted, *device; // the table last sent, this step's, and the device copy
    int count, capacity;
    int64_t chunks;
} table;

// The table for these tensors on the device, sent only when it changed. The
// host buffers are kept between steps (nothing is allocated in a step once
// the table has its size).
static const AdamwTensor *adamw_table(const int64_t *offsets, const int64_t *sizes, const unsigned char *decay,
                                      int count, int64_t *chunks) {
    if (count > table.capacity) {
        if (table.device != NULL) device_release(DEVICE_CUDA, table.device);
        free(table.sent);
        free(table.wanted);
        table.sent = (AdamwTensor *)calloc((size_t)count, sizeof(AdamwTensor));
        table.wanted = (AdamwTensor *)calloc((size_t)count, sizeof(AdamwTensor));
        if (table.sent == NULL || table.wanted == NULL) fatal("out of memory");
        table.device = (AdamwTensor *)device_alloc(DEVICE_CUDA, (size_t)count * sizeof(AdamwTensor));
        table.capacity = count;
        table.count = 0; // nothing valid was sent to the new buffer
    }
    int64_t c = 0;
    for (int i = 0; i < count; i++) {
        table.wanted[i] = AdamwTensor{offsets[i], sizes[i], c, decay[i] != 0 ? 1 : 0};
        c += (sizes[i] + CHUNK - 1) / CHUNK;
    }
    const size_t bytes = (size_t)count * sizeof(AdamwTensor);
    if (count != table.count || memcmp(table.wanted, table.sent, bytes) != 0) {
        device_copy(table.device, DEVICE_CUDA, table.wanted, DEVICE_CPU, bytes);
        AdamwTensor *swap = table.sent;
        table.sent = table.wanted;
        table.wanted = swap;
        table.count = count;
        table.chunks = c;
    }
    *chunks = table.chunks;
    return table.device;
}

// copy: the block's bf16 copy from values + copy_from on (NULL: none to keep).
__global__ void adamw_update_kernel(float *values, const float *grads, float *m, float *v, __nv_bfloat16 *copy,
                                    int64_t copy_from, const AdamwTensor *tensors, int count, float keep_decay,
                                    float beta1, float beta2, float step_size, float bc2_sqrt, float eps) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (tensors[mid].first_chunk <= (int64_t)blockIdx.x) lo = mid;
        else hi = mid - 1;
    }
    const AdamwTensor t = tensors[lo];
    const int64_t start = ((int64_t)blockIdx.x - t.first_chunk) * CHUNK;
    const int64_t end = start + CHUNK < t.n ? start + CHUNK : t.n;
    const float keep = t.decay ? keep_decay : 1.0f;
    const float one_minus_b1 = __fsub_rn(1.0f, beta1), one_minus_b2 = __fsub_rn(1.0f, beta2);
    for (int64_t e = start + threadIdx.x; e < end; e += blockDim.x) {
        const int64_t k = t.offset + e;
        const float ge = grads[k];
        const float pe = __fmul_rn(values[k], keep);
        const float me = __fadd_rn(__fmul_rn(m[k], beta1), __fmul_rn(ge, one_minus_b1));
        const float ve = __fadd_rn(__fmul_rn(v[k], beta2), __fmul_rn(__fmul_rn(one_minus_b2, ge), ge));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(ve), bc2_sqrt), eps);
        m[k] = me;
        v[k] = ve;
        const float pn = __fadd_rn(pe, __fdiv_rn(__fmul_rn(-step_size, me), denom));
        values[k] = pn;
        if (copy != NULL) copy[k - copy_from] = __float2bfloat16_rn(pn);
    }
}

static void adamw_update(float *values, const float *grads, float *m, float *v, const int64_t *offsets,
                         const int64_t *sizes, const unsigned char *decay, int count, float keep_decay, float beta1,
                         float beta2, float step_size, float bc2_sqrt, float eps) {
    if (count <= 0) return;
    int64_t chunks = 0;
    const AdamwTensor *tensors = adamw_table(offsets, sizes, decay, count, &chunks);
    if (chunks == 0) return;
    // The span of the tensors in the block: its bf16 copy's slice (or NULL).
    int64_t from = offsets[0], to = offsets[0] + sizes[0];
    for (int i = 1; i < count; i++) {
        if (offsets[i] < from) from = offsets[i];
        if (offsets[i] + sizes[i] > to) to = offsets[i] + sizes[i];
    }
    __nv_bfloat16 *copy = param_copy_update_slice(values + from, to - from);
    adamw_update_kernel<<<(unsigned int)chunks, THREADS, 0, cuda_stream()>>>(
        values, grads, m, v, copy, from, tensors, count, keep_decay, beta1, beta2, step_size, bc2_sqrt, eps);
    CUDA_LAUNCH_CHECK();
}

// ---- SGD: one tensor a launch ----

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
