// Elementwise arithmetic and activations, forward and backward, with the
// arithmetic of autograd/ops/op_elementwise.c and op_activation.c: products
// and sums are rounded one by one (__fmul_rn, __fadd_rn: no fused
// multiply-add the CPU does not do), GELU is autograd/gelu_math.h's, the
// CPU op's own code, and the broadcast gradient of b sums in double in a fixed
// order.
//
// Activations (a, b, x, y) have the DType passed beside them and are read and
// written through load_f32/store_f32 (cuda/common.cuh): under --precision
// bf16 the arithmetic stays f32 and only the stored values are bf16 (issue 5
// "Precision"); gradients are f32.
#include "autograd/gelu_math.h"
#include "cuda/common.cuh"

#define GRID_STRIDE(k, n) \
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < (n); k += (int64_t)gridDim.x * blockDim.x)

// ---- binary ops: b read at k % nb ----

__device__ __forceinline__ float binary_apply(BinaryOp op, float a, float b) {
    return op == BINARY_ADD ? __fadd_rn(a, b) : op == BINARY_SUB ? __fsub_rn(a, b) : __fmul_rn(a, b);
}

__global__ void binary_forward_kernel(BinaryOp op, const void *a, DType ta, const void *b, DType tb, void *y,
                                      DType ty, int64_t n, int64_t nb) {
    GRID_STRIDE(k, n) store_f32(y, ty, k, binary_apply(op, load_f32(a, ta, k), load_f32(b, tb, nb == n ? k : k % nb)));
}

static void binary_forward(BinaryOp op, const void *a, DType ta, const void *b, DType tb, void *y, DType ty, int64_t n,
                           int64_t nb) {
    if (n == 0) return;
    binary_forward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(op, a, ta, b, tb, y, ty, n, nb);
    CUDA_LAUNCH_CHECK();
}

// da[k] += ∂y/∂a·g[k]; with nb == n also db[k] += ∂y/∂b·g[k] (no reduction).
__global__ void binary_grad_elementwise_kernel(BinaryOp op, const void *a, DType ta, const void *b, DType tb,
                                               const float *g, float *da, int da_store, float *db, int db_store,
                                               int64_t n, int64_t nb) {
    GRID_STRIDE(k, n) {
        float gk = g[k];
        if (da)
            da[k] = __fadd_rn(GRAD_BEFORE(da, k, da_store),
                              op == BINARY_MUL ? __fmul_rn(gk, load_f32(b, tb, nb == n ? k : k % nb)) : gk);
        if (db) {
            const float before = GRAD_BEFORE(db, k, db_store);
            db[k] = op == BINARY_MUL   ? __fadd_rn(before, __fmul_rn(gk, load_f32(a, ta, k)))
                    : op == BINARY_SUB ? __fsub_rn(before, gk)
                                       : __fadd_rn(before, gk);
        }
    }
}

// The broadcast gradient of b, as the CPU's reduce_broadcast: db[j] +=
// sign·(float)Σ_r g[r·nb + j]·(a[r·nb + j] for mul), the sum in double.
// One thread per column walks the rows in order (the CPU's order, coalesced
// across the columns of a warp).
__global__ void broadcast_grad_columns_kernel(BinaryOp op, const void *a, DType ta, const float *g, float *db,
                                              int db_store, int64_t rows, int64_t nb) {
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= nb) return;
    double s = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t k = r * nb + j;
        s += op == BINARY_MUL ? (double)g[k] * (double)load_f32(a, ta, k) : (double)g[k];
    }
    const float before = GRAD_BEFORE(db, j, db_store);
    db[j] = op == BINARY_SUB ? __fsub_rn(before, (float)s) : __fadd_rn(before, (float)s);
}

// nb = 1: the whole sum in one block, each thread a fixed stride of terms,
// then a fixed tree (warp butterflies, then the warps' sums in order).
#define SCALAR_THREADS 1024
__global__ void broadcast_grad_scalar_kernel(BinaryOp op, const void *a, DType ta, const float *g, float *db,
                                             int db_store, int64_t n) {
    __shared__ double warp_part[SCALAR_THREADS / 32];
    double s = 0.0;
    for (int64_t k = threadIdx.x; k < n; k += SCALAR_THREADS)
        s += op == BINARY_MUL ? (double)g[k] * (double)load_f32(a, ta, k) : (double)g[k];
    s = warp_sum_d(s);
    if (threadIdx.x % 32 == 0) warp_part[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int w = 0; w < SCALAR_THREADS / 32; w++) t += warp_part[w];
        const float before = GRAD_BEFORE(db, 0, db_store);
        db[0] = op == BINARY_SUB ? __fsub_rn(before, (float)t) : __fadd_rn(before, (float)t);
    }
}

static void binary_backward(BinaryOp op, const void *a, DType ta, const void *b, DType tb, const float *g, float *da,
                            int da_store, float *db, int db_store, int64_t n, int64_t nb) {
    if (n == 0) return;
    float *db_here = nb == n ? db : NULL;
    if (da || db_here) {
        binary_grad_elementwise_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(op, a, ta, b, tb, g, da,
                                                                                       da_store, db_here, db_store,
                                                                                       n, nb);
        CUDA_LAUNCH_CHECK();
    }
    if (db && nb != n) {
        if (nb == 1)
            broadcast_grad_scalar_kernel<<<1, SCALAR_THREADS, 0, cuda_stream()>>>(op, a, ta, g, db, db_store, n);
        else
            broadcast_grad_columns_kernel<<<cuda_blocks(nb, 256), 256, 0, cuda_stream()>>>(op, a, ta, g, db,
                                                                                           db_store, n / nb, nb);
        CUDA_LAUNCH_CHECK();
    }
}

// ---- scalar affine and scaled accumulation ----

__global__ void affine_kernel(const void *x, void *y, DType t, int64_t n, float scale, float shift) {
    GRID_STRIDE(k, n) store_f32(y, t, k, __fadd_rn(__fmul_rn(load_f32(x, t, k), scale), shift));
}

static void affine_forward(const void *x, void *y, DType t, int64_t n, float scale, float shift) {
    if (n == 0) return;
    affine_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(x, y, t, n, scale, shift);
    CUDA_LAUNCH_CHECK();
}

__global__ void scaled_add_kernel(float *dx, const float *g, int64_t n, float scale) {
    GRID_STRIDE(k, n) dx[k] = __fadd_rn(dx[k], __fmul_rn(scale, g[k]));
}

static void scaled_add(float *dx, const float *g, int64_t n, float scale) {
    if (n == 0) return;
    scaled_add_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dx, g, n, scale);
    CUDA_LAUNCH_CHECK();
}

// ---- activations (op_activation.c's formulas) ----

__global__ void activation_forward_kernel(Activation act, const void *x, void *y, DType t, int64_t n) {
    GRID_STRIDE(k, n) {
        float v = load_f32(x, t, k), r;
        switch (act) {
        case ACT_GELU: r = gelu_f32(v); break; // autograd/gelu_math.h: the CPU op's bits
        case ACT_RELU: r = v > 0.0f ? v : 0.0f; break;
        case ACT_TANH: r = tanhf(v); break;
        default: r = __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-v))); break; // sigmoid
        }
        store_f32(y, t, k, r);
    }
}

static void activation_forward(Activation act, const void *x, void *y, DType t, int64_t n) {
    if (n == 0) return;
    activation_forward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(act, x, y, t, n);
    CUDA_LAUNCH_CHECK();
}

__global__ void activation_backward_kernel(Activation act, const void *x, const void *y, DType t, const float *g,
                                           float *dx, int dx_store, int64_t n) {
    GRID_STRIDE(k, n) {
        float gk = g[k], d;
        switch (act) {
        case ACT_GELU: d = __fmul_rn(gk, gelu_grad_f32(load_f32(x, t, k))); break;
        case ACT_RELU: d = load_f32(x, t, k) > 0.0f ? gk : 0.0f; break;
        case ACT_TANH: {
            float yk = load_f32(y, t, k);
            d = __fmul_rn(gk, __fsub_rn(1.0f, __fmul_rn(yk, yk)));
            break;
        }
        default: { // sigmoid
            float yk = load_f32(y, t, k);
            d = __fmul_rn(__fmul_rn(gk, yk), __fsub_rn(1.0f, yk));
            break;
        }
        }
        dx[k] = __fadd_rn(GRAD_BEFORE(dx, k, dx_store), d);
    }
}

static void activation_backward(Activation act, const void *x, const void *y, DType t, const float *g, float *dx,
                                int dx_store, int64_t n) {
    if (n == 0) return;
    activation_backward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(act, x, y, t, g, dx, dx_store, n);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_elementwise(DeviceKernels *k) {
    k->binary_forward = binary_forward;
    k->binary_backward = binary_backward;
    k->affine_forward = affine_forward;
    k->scaled_add = scaled_add;
    k->activation_forward = activation_forward;
    k->activation_backward = activation_backward;
}
