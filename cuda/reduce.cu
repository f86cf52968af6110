// Sums over one dim and over everything, their backward passes, and the sum
// of squares of gradient clipping. Sums run in double, as the CPU op
// (autograd/ops/op_reduce.c) does, and in an order fixed by the shape alone
// (DESIGN.md "Deterministic"): per-thread sequential loops, warp butterflies
// and per-block partials combined in block order, never atomics.
#include "cuda/common.cuh"

#define THREADS 256

#define GRID_STRIDE(k, n) \
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < (n); k += (int64_t)gridDim.x * blockDim.x)

// ---- over one dim: x [outer, n, inner] -> y [outer, inner] ----

// inner = 1: one block per row of n contiguous values.
__global__ void reduce_rows_kernel(const float *x, float *y, int64_t outer, int64_t n, float scale) {
    __shared__ double red[32];
    for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
        const float *row = x + o * n;
        double s = 0.0;
        for (int64_t j = threadIdx.x; j < n; j += THREADS) s += row[j];
        s = block_sum_d(s, red);
        if (threadIdx.x == 0) y[o] = (float)(s * (double)scale);
    }
}

// inner > 1: one thread per output, summing along n in order (coalesced
// across i), which is the CPU's loop.
__global__ void reduce_strided_kernel(const float *x, float *y, int64_t outer, int64_t n, int64_t inner,
                                      float scale) {
    GRID_STRIDE(k, outer * inner) {
        int64_t o = k / inner, i = k % inner;
        const float *col = x + o * n * inner + i;
        double s = 0.0;
        for (int64_t j = 0; j < n; j++) s += col[j * inner];
        y[k] = (float)(s * (double)scale);
    }
}

static void reduce_dim_forward(const float *x, float *y, int64_t outer, int64_t n, int64_t inner, float scale) {
    if (outer * inner == 0) return;
    if (inner == 1) {
        unsigned int blocks = (unsigned int)(outer < 65535 ? outer : 65535);
        reduce_rows_kernel<<<blocks, THREADS, 0, cuda_stream()>>>(x, y, outer, n, scale);
    } else {
        reduce_strided_kernel<<<cuda_blocks(outer * inner, THREADS), THREADS, 0, cuda_stream()>>>(x, y, outer, n,
                                                                                                 inner, scale);
    }
    CUDA_LAUNCH_CHECK();
}

__global__ void reduce_dim_backward_kernel(const float *g, float *dx, int64_t outer, int64_t n, int64_t inner,
                                           float scale) {
    GRID_STRIDE(k, outer * n * inner) {
        int64_t i = k % inner, o = k / (n * inner);
        dx[k] = __fadd_rn(dx[k], __fmul_rn(scale, g[o * inner + i]));
    }
}

static void reduce_dim_backward(const float *g, float *dx, int64_t outer, int64_t n, int64_t inner, float scale) {
    int64_t total = outer * n * inner;
    if (total == 0) return;
    reduce_dim_backward_kernel<<<cuda_blocks(total, THREADS), THREADS, 0, cuda_stream()>>>(g, dx, outer, n, inner,
                                                                                          scale);
    CUDA_LAUNCH_CHECK();
}

// ---- over everything: a fixed grid of partials, then one block ----

#define MAX_PARTIALS 1024

// The grid depends on n only, so each partial covers the same elements every run.
static unsigned int partial_blocks(int64_t n) {
    int64_t b = (n + THREADS * 16 - 1) / (THREADS * 16); // at least 16 elements a thread before splitting further
    if (b < 1) b = 1;
    return (unsigned int)(b < MAX_PARTIALS ? b : MAX_PARTIALS);
}

// Σ x, Σ x², or Σ x·w (w not NULL), each product in double.
__global__ void partial_sums_kernel(const float *x, const float *w, double *part, int64_t n, int squares) {
    __shared__ double red[32];
    double s = 0.0;
    GRID_STRIDE(k, n) {
        double v = x[k];
        if (w != NULL) v *= (double)w[k];
        s += squares ? v * v : v;
    }
    s = block_sum_d(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// One block adds the partials (each thread a fixed stride of them); the
// total goes to y as scale·Σ in f32, or to out in double.
__global__ void finish_sum_kernel(const double *part, int count, float *y, float scale, double *out) {
    __shared__ double red[32];
    double s = 0.0;
    for (int b = threadIdx.x; b < count; b += THREADS) s += part[b];
    s = block_sum_d(s, red);
    if (threadIdx.x != 0) return;
    if (y) y[0] = (float)(s * (double)scale);
    if (out) out[0] = s;
}

double *cuda_sum_partials(const float *x, const float *w, int64_t n, int *count) {
    unsigned int blocks = partial_blocks(n);
    double *part = (double *)cuda_scratch(blocks * sizeof *part);
    partial_sums_kernel<<<blocks, THREADS, 0, cuda_stream()>>>(x, w, part, n, 0);
    CUDA_LAUNCH_CHECK();
    *count = (int)blocks;
    return part;
}

static void sum_all(const float *x, int64_t n, int squares, float *y, float scale, double *out) {
    unsigned int blocks = partial_blocks(n);
    double *part = (double *)cuda_scratch(blocks * sizeof *part);
    partial_sums_kernel<<<blocks, THREADS, 0, cuda_stream()>>>(x, NULL, part, n, squares);
    CUDA_LAUNCH_CHECK();
    finish_sum_kernel<<<1, THREADS, 0, cuda_stream()>>>(part, (int)blocks, y, scale, out);
    CUDA_LAUNCH_CHECK();
}

static void reduce_all_forward(const float *x, float *y, int64_t n, float scale) { sum_all(x, n, 0, y, scale, NULL); }

__global__ void reduce_all_backward_kernel(const float *g, float *dx, int64_t n, float scale) {
    float gs = __fmul_rn(scale, g[0]); // the CPU's float product, then one add per element
    GRID_STRIDE(k, n) dx[k] = __fadd_rn(dx[k], gs);
}

static void reduce_all_backward(const float *g, float *dx, int64_t n, float scale) {
    if (n == 0) return;
    reduce_all_backward_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(g, dx, n, scale);
    CUDA_LAUNCH_CHECK();
}

static void sum_squares(const float *x, double *out, int64_t n) { sum_all(x, n, 1, NULL, 0.0f, out); }

void cuda_fill_reduce(DeviceKernels *k) {
    k->reduce_dim_forward = reduce_dim_forward;
    k->reduce_dim_backward = reduce_dim_backward;
    k->reduce_all_forward = reduce_all_forward;
    k->reduce_all_backward = reduce_all_backward;
    k->sum_squares = sum_squares;
}
