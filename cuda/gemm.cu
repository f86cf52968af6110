// The table's dense products (gemm, linear_forward) and the column sums of
// bias gradients. The products themselves run in cuBLASLt
// (cuda/gemm_blaslt.cu); this file holds everything around that call: the
// empty-dimension cases, the bf16 copies of the inputs, and the plain kernels,
// so that the CPU emulator of tests/cuda_emu/ runs all of it.
//
// Precision (cuda/backend.h): fp32 passes the f32 inputs through; bf16
// converts A and B to bf16 copies in scratch memory and keeps f32 output and
// accumulation.
#include "cuda/blaslt.cuh"
#include "cuda/common.cuh"

// ---- bf16 copies of the inputs ----

__global__ void to_bf16_kernel(const float *x, __nv_bfloat16 *y, int64_t n) {
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x)
        y[k] = __float2bfloat16_rn(x[k]);
}

// The n elements a strided batch reads from one operand: the last matrix's
// end, gaps included.
static const void *as_bf16(const float *x, int64_t n) {
    __nv_bfloat16 *y = (__nv_bfloat16 *)cuda_scratch((size_t)n * sizeof *y);
    to_bf16_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(x, y, n);
    CUDA_LAUNCH_CHECK();
    return y;
}

// C = alpha·op(A)·op(B) + beta·C (+ bias along rows), batched; K > 0.
static void matmul(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t stride_a, const float *B, int64_t stride_b, float beta, float *C, int64_t stride_c,
                   int64_t batch, const float *bias) {
    int bf16 = cuda_precision() == PRECISION_BF16;
    const void *a = A, *b = B;
    if (bf16) {
        a = as_bf16(A, (batch - 1) * stride_a + M * K);
        b = as_bf16(B, (batch - 1) * stride_b + K * N);
        // The copies are packed like the originals, so the same strides apply.
    }
    cuda_blaslt_matmul(trans_a, trans_b, M, N, K, alpha, a, stride_a, b, stride_b, beta, C, stride_c, batch, bias,
                       bf16);
}

// ---- empty inner dimension: no products, C = beta·C (+ bias) ----

__global__ void scale_rows_kernel(float *c, const float *bias, int64_t rows, int64_t cols, float beta) {
    int64_t n = rows * cols;
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
        float v = beta == 0.0f ? 0.0f : beta * c[k]; // beta = 0 ignores C, NaNs included (BLAS)
        c[k] = bias ? v + bias[k % cols] : v;
    }
}

static void scale_rows(float *c, const float *bias, int64_t rows, int64_t cols, float beta) {
    if (rows * cols == 0) return;
    scale_rows_kernel<<<cuda_blocks(rows * cols, 256), 256, 0, cuda_stream()>>>(c, bias, rows, cols, beta);
    CUDA_LAUNCH_CHECK();
}

static void gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t stride_a, const float *B, int64_t stride_b, float beta, float *C, int64_t stride_c,
                 int64_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    if (K == 0) {
        for (int64_t b = 0; b < batch; b++) scale_rows(C + b * stride_c, NULL, M, N, beta);
        return;
    }
    matmul(trans_a, trans_b, M, N, K, alpha, A, stride_a, B, stride_b, beta, C, stride_c, batch, NULL);
}

static void linear_forward(const float *x, const float *w, const float *bias, float *y, int64_t R, int64_t in,
                           int64_t out) {
    if (R == 0 || out == 0) return;
    if (in == 0) {
        scale_rows(y, bias, R, out, 0.0f);
        return;
    }
    matmul(0, 1, R, out, in, 1.0f, x, 0, w, 0, 0.0f, y, 0, 1, bias);
}

// ---- db[j] += Σ_r g[r·cols + j] ----
// Two fixed passes (DESIGN.md "Deterministic"): CHUNKS slabs of rows each sum
// their rows in order into a double partial per column, then one thread per
// column adds the partials in slab order. Doubles keep the result within f32
// rounding of the CPU's ordered float sum.

#define COLSUM_MAX_CHUNKS 64
#define COLSUM_MIN_ROWS 64 // rows per slab below which more slabs only cost scratch

__global__ void column_partials_kernel(const float *g, double *part, int64_t rows, int64_t cols, int64_t per_chunk) {
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    int64_t r0 = blockIdx.y * per_chunk, r1 = r0 + per_chunk < rows ? r0 + per_chunk : rows;
    double s = 0.0;
    for (int64_t r = r0; r < r1; r++) s += (double)g[r * cols + j];
    part[blockIdx.y * cols + j] = s;
}

__global__ void column_finish_kernel(float *db, const double *part, int64_t cols, int chunks) {
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double s = 0.0;
    for (int c = 0; c < chunks; c++) s += part[c * cols + j];
    db[j] += (float)s;
}

static void add_column_sums(float *db, const float *g, int64_t rows, int64_t cols) {
    if (cols == 0 || rows == 0) return;
    int64_t chunks = (rows + COLSUM_MIN_ROWS - 1) / COLSUM_MIN_ROWS;
    if (chunks > COLSUM_MAX_CHUNKS) chunks = COLSUM_MAX_CHUNKS;
    int64_t per_chunk = (rows + chunks - 1) / chunks;
    chunks = (rows + per_chunk - 1) / per_chunk; // no empty slab
    double *part = (double *)cuda_scratch((size_t)(chunks * cols) * sizeof *part);
    unsigned int col_blocks = (unsigned int)((cols + 255) / 256);
    column_partials_kernel<<<dim3(col_blocks, (unsigned int)chunks), 256, 0, cuda_stream()>>>(g, part, rows, cols,
                                                                                            per_chunk);
    CUDA_LAUNCH_CHECK();
    column_finish_kernel<<<col_blocks, 256, 0, cuda_stream()>>>(db, part, cols, (int)chunks);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_gemm(DeviceKernels *k) {
    k->gemm = gemm;
    k->linear_forward = linear_forward;
    k->add_column_sums = add_column_sums;
}
