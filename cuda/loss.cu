// Losses (autograd/device_kernels.h "losses") with the arithmetic of
// autograd/ops/op_loss.c: sums in double, log-softmax with the row maximum
// subtracted. A loss is one f32 on the device, and the backward reads the
// upstream gradient g[0] there, so a step never waits for the host.
//
// Determinism: a loss is reduced in two fixed stages (per-row or per-block
// partials in cuda_scratch(), then one block that sums them in a fixed tree),
// never with atomics (device_kernels.h "Conventions").
#include <math.h>

#include "cuda/common.cuh"

#define IGNORE_INDEX (-100) // PyTorch's CrossEntropyLoss default, as op_loss.c
#define THREADS 256
#define ROW_THREADS_MAX 256
#define MSE_MAX_BLOCKS 1024 // stage-one blocks of the MSE sum; a function of n only

static unsigned int row_threads(int64_t C) {
    unsigned int t = 32;
    while (t < ROW_THREADS_MAX && (int64_t)t < C) t <<= 1;
    return t;
}

static unsigned int row_grid(int64_t rows) { return rows < 65535LL * 512 ? (unsigned int)rows : 65535u * 512u; }

// Stage two of every loss: loss[0] = Σ vals / den, where den counts the
// targets that are not ignored (targets given) or is `count`. With den = 0,
// zero_when_empty gives 0 (op_loss.c: an all-ignored batch has loss 0) and
// otherwise the quotient stays 0/0 (op_mse of an empty tensor).
__global__ void loss_finish_kernel(const double *vals, int64_t n_vals, const int32_t *targets, int64_t count,
                                   int zero_when_empty, float *loss) {
    __shared__ double red[32];
    double s = 0.0, valid = 0.0;
    for (int64_t k = threadIdx.x; k < n_vals; k += blockDim.x) s += vals[k];
    if (targets)
        for (int64_t k = threadIdx.x; k < count; k += blockDim.x) valid += targets[k] != IGNORE_INDEX;
    s = block_sum_d(s, red);
    const double den = targets ? block_sum_d(valid, red) : (double)count;
    if (threadIdx.x == 0) loss[0] = den == 0.0 && zero_when_empty ? 0.0f : (float)(s / den);
}

// ---- mse ----

__global__ void mse_partials_kernel(const float *a, const float *b, double *part, int64_t n) {
    __shared__ double red[32];
    double s = 0.0;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        const double d = (double)a[k] - b[k];
        s += d * d;
    }
    s = block_sum_d(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

static void mse_forward(const float *a, const float *b, float *loss, int64_t n) {
    unsigned int blocks = cuda_blocks(n, THREADS);
    if (blocks > MSE_MAX_BLOCKS) blocks = MSE_MAX_BLOCKS;
    double *part = (double *)cuda_scratch(blocks * sizeof(double));
    mse_partials_kernel<<<blocks, THREADS, 0, cuda_stream()>>>(a, b, part, n);
    CUDA_LAUNCH_CHECK();
    loss_finish_kernel<<<1, THREADS, 0, cuda_stream()>>>(part, blocks, NULL, n, 0, loss);
    CUDA_LAUNCH_CHECK();
}

// The CPU's f32 expressions, with the rounding intrinsics so that nvcc does
// not fuse them into FMAs (the CPU build does not contract, -std=c11).
__global__ void mse_backward_kernel(const float *a, const float *b, const float *g, float *da, float *db, int64_t n) {
    const float s = __fdiv_rn(__fmul_rn(2.0f, g[0]), (float)n);
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        const float d = __fmul_rn(s, __fsub_rn(a[k], b[k]));
        if (da) da[k] = __fadd_rn(da[k], d);
        if (db) db[k] = __fsub_rn(db[k], d);
    }
}

static void mse_backward(const float *a, const float *b, const float *g, float *da, float *db, int64_t n) {
    if (n <= 0 || (!da && !db)) return;
    mse_backward_kernel<<<cuda_blocks(n, THREADS), THREADS, 0, cuda_stream()>>>(a, b, g, da, db, n);
    CUDA_LAUNCH_CHECK();
}

// ---- cross-entropy, hard (targets) or soft (q) ----

// Per row: lse = m + log Σ exp(x − m) (m the f32 row maximum, sum in double),
// probs = exp(x − lse), and the row's term of the loss: lse − x[t] (0 for an
// ignored row) or −Σ q (x − lse).
__global__ void cross_entropy_rows_kernel(const float *logits, const int32_t *targets, const float *q, float *probs,
                                          double *row_loss, int64_t N, int64_t C) {
    __shared__ double red[32];
    __shared__ float red_f[32];
    for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
        const float *x = logits + r * C;
        float m = -INFINITY;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = fmaxf(m, x[c]);
        m = block_max_f(m, red_f);
        double s = 0.0;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += exp((double)x[c] - m);
        const double lse = m + log(block_sum_d(s, red));
        double term = 0.0;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            probs[r * C + c] = (float)exp((double)x[c] - lse);
            if (q) term -= (double)q[r * C + c] * ((double)x[c] - lse);
        }
        if (q) term = block_sum_d(term, red);
        if (threadIdx.x == 0) {
            if (targets) row_loss[r] = targets[r] == IGNORE_INDEX ? 0.0 : lse - x[targets[r]];
            else row_loss[r] = term;
        }
    }
}

static void cross_entropy_rows(const float *logits, const int32_t *targets, const float *q, float *probs,
                               float *loss, int64_t N, int64_t C) {
    double *row_loss = (double *)cuda_scratch((size_t)(N > 0 ? N : 1) * sizeof(double));
    if (N > 0) {
        cross_entropy_rows_kernel<<<row_grid(N), row_threads(C), 0, cuda_stream()>>>(logits, targets, q, probs,
                                                                                     row_loss, N, C);
        CUDA_LAUNCH_CHECK();
    }
    loss_finish_kernel<<<1, THREADS, 0, cuda_stream()>>>(row_loss, N, targets, N, 1, loss);
    CUDA_LAUNCH_CHECK();
}

static void cross_entropy_forward(const float *logits, const int32_t *targets, float *probs, float *loss, int64_t N,
                                  int64_t C) {
    cross_entropy_rows(logits, targets, NULL, probs, loss, N, C);
}

static void soft_cross_entropy_forward(const float *logits, const float *q, float *probs, float *loss, int64_t N,
                                       int64_t C) {
    cross_entropy_rows(logits, NULL, q, probs, loss, N, C);
}

// n_valid[0] = the rows whose target is not ignored (the forward's divisor).
__global__ void count_valid_kernel(const int32_t *targets, int64_t N, double *n_valid) {
    __shared__ double red[32];
    double v = 0.0;
    for (int64_t k = threadIdx.x; k < N; k += blockDim.x) v += targets[k] != IGNORE_INDEX;
    v = block_sum_d(v, red);
    if (threadIdx.x == 0) n_valid[0] = v;
}

// dx[r, c] += g/N_valid · p[r, c], then dx[r, t] −= g/N_valid: the two f32
// additions of the CPU loop, in its order.
__global__ void cross_entropy_backward_kernel(const float *probs, const int32_t *targets, const float *g,
                                              const double *n_valid, float *dlogits, int64_t N, int64_t C) {
    if (n_valid[0] == 0.0) return; // every row ignored: no gradient (op_loss.c)
    const double gs = (double)g[0] / n_valid[0];
    for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
        const int32_t t = targets[r];
        if (t == IGNORE_INDEX) continue;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            float v = dlogits[r * C + c] + (float)(gs * (double)probs[r * C + c]);
            if (c == t) v -= (float)gs;
            dlogits[r * C + c] = v;
        }
    }
}

static void cross_entropy_backward(const float *probs, const int32_t *targets, const float *g, float *dlogits,
                                   int64_t N, int64_t C) {
    if (N <= 0 || !dlogits) return;
    double *n_valid = (double *)cuda_scratch(sizeof(double));
    count_valid_kernel<<<1, THREADS, 0, cuda_stream()>>>(targets, N, n_valid);
    CUDA_LAUNCH_CHECK();
    cross_entropy_backward_kernel<<<row_grid(N), row_threads(C), 0, cuda_stream()>>>(probs, targets, g, n_valid,
                                                                                     dlogits, N, C);
    CUDA_LAUNCH_CHECK();
}

// dx[r, c] += g/N · (p[r, c]·Σ_c' q[r, c'] − q[r, c]): exact for rows of q
// that do not sum to 1, as op_loss.c.
__global__ void soft_cross_entropy_backward_kernel(const float *probs, const float *q, const float *g,
                                                   float *dlogits, int64_t N, int64_t C) {
    __shared__ double red[32];
    const double gs = (double)g[0] / (double)N;
    for (int64_t r = blockIdx.x; r < N; r += gridDim.x) {
        const float *qr = q + r * C;
        double qsum = 0.0;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) qsum += qr[c];
        qsum = block_sum_d(qsum, red);
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
            dlogits[r * C + c] += (float)(gs * ((double)probs[r * C + c] * qsum - qr[c]));
    }
}

static void soft_cross_entropy_backward(const float *probs, const float *q, const float *g, float *dlogits, int64_t N,
                                        int64_t C) {
    if (N <= 0 || !dlogits) return;
    soft_cross_entropy_backward_kernel<<<row_grid(N), row_threads(C), 0, cuda_stream()>>>(probs, q, g, dlogits, N,
                                                                                          C);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_loss(DeviceKernels *k) {
    k->mse_forward = mse_forward;
    k->mse_backward = mse_backward;
    k->cross_entropy_forward = cross_entropy_forward;
    k->cross_entropy_backward = cross_entropy_backward;
    k->soft_cross_entropy_forward = soft_cross_entropy_forward;
    k->soft_cross_entropy_backward = soft_cross_entropy_backward;
}
