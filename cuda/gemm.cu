// The table's dense products (gemm, linear_forward), the column sums of bias
// gradients, and the dtype entries (matmul_dtype, convert). The products
// themselves run in cuBLASLt (cuda/gemm_blaslt.cu); this file holds
// everything around that call: the empty-dimension cases, the typed copies of
// the inputs, and the plain kernels, so that the CPU emulator of
// tests/cuda_emu/ runs all of it.
//
// Precision (cuda/backend.h, issue 5 "Precision", PyTorch autocast's rule):
// fp32 runs f32 inputs; bf16 runs bf16 inputs (an f32 input gets a bf16 copy
// in scratch memory, a bf16 activation goes in as it is) with f32
// accumulation. The output is stored as the caller's type: f32, or bf16
// (matmul_dtype) written by cuBLASLt itself.
#include <string.h>

#include "cuda/blaslt.cuh"
#include "cuda/common.cuh"
#include "cuda/param_copies.cuh"

#define GRID_STRIDE(k, n) \
    for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < (n); k += (int64_t)gridDim.x * blockDim.x)

// ---- dtypes ----

static DType matmul_dtype(void) { return cuda_precision() == PRECISION_BF16 ? DTYPE_BF16 : DTYPE_F32; }

__global__ void convert_kernel(const void *x, DType tx, void *y, DType ty, int64_t n) {
    GRID_STRIDE(k, n) store_f32(y, ty, k, load_f32(x, tx, k));
}

// y[k] = x[k] in y's type; the same type is a plain copy (bits kept).
static void convert(const void *x, DType tx, void *y, DType ty, int64_t n) {
    if (n <= 0) return;
    if (tx == ty) {
        CUDA_CHECK(cudaMemcpyAsync(y, x, (size_t)n * dtype_size(tx), cudaMemcpyDeviceToDevice, cuda_stream()));
        CUDA_LAUNCH_CHECK();
        return;
    }
    convert_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(x, tx, y, ty, n);
    CUDA_LAUNCH_CHECK();
}

// x (n elements of type tx) as type `want`: x itself, a parameter's slice of
// its block's bf16 copy (cuda/param_copies.cu), or a converted copy in
// scratch memory. For an operand of a strided batch, n is the last matrix's
// end, gaps included, so the copy is packed like the original and the same
// strides apply.
static const void *as_type(const void *x, DType tx, DType want, int64_t n) {
    if (tx == want) return x;
    if (tx == DTYPE_F32 && want == DTYPE_BF16) {
        const void *kept = param_copy_read((const float *)x, n);
        if (kept != NULL) return kept;
    }
    void *y = cuda_scratch((size_t)n * dtype_size(want));
    convert(x, tx, y, want, n);
    return y;
}

// cuBLASLt's bias epilogue may read the vector with 16-byte loads, and its
// alignment preferences do not cover the bias; a bias inside the packed
// parameter block (autograd/params.c) starts wherever the tensor before it
// ended, so an unaligned one is copied into scratch memory (256-byte
// aligned) first. One short copy, only for such biases.
#define BIAS_ALIGN 16
static const void *aligned_bias(const void *bias, DType t, int64_t n) {
    if (bias == NULL || (uintptr_t)bias % BIAS_ALIGN == 0) return bias;
    void *copy = cuda_scratch((size_t)n * dtype_size(t));
    convert(bias, t, copy, t, n);
    return copy;
}

// The cuBLASLt call, then its check (cuda_op_done) under a label with the
// product's shape and types, formatted only when the sync mode or the
// profiler wants one: the profile sums GEMMs per shape.
static void blaslt(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *a,
                   int64_t stride_a, const void *b, int64_t stride_b, int bf16, float beta, void *C, DType tc,
                   int64_t stride_c, int64_t batch, const void *bias) {
    cuda_blaslt_matmul(trans_a, trans_b, M, N, K, alpha, a, stride_a, b, stride_b, bf16, beta, C, tc, stride_c, batch,
                       bias);
    if (!cuda_op_labels_wanted()) return;
    char label[160];
    snprintf(label, sizeof label, "gemm %s->%s %lldx%lldx%lld%s%s%s%s", bf16 ? "bf16" : "f32",
             tc == DTYPE_BF16 ? "bf16" : "f32", (long long)M, (long long)N, (long long)K, trans_a ? " At" : "",
             trans_b ? " Bt" : "", bias ? " +bias" : "", beta != 0.0f ? " +=C" : "");
    if (batch > 1) snprintf(label + strlen(label), sizeof label - strlen(label), " x%lld", (long long)batch);
    cuda_op_done(label);
}

// C = alpha·op(A)·op(B) + beta·C (+ bias along rows), batched; K > 0.
static void matmul(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A, DType ta,
                   int64_t stride_a, const void *B, DType tb, int64_t stride_b, float beta, void *C, DType tc,
                   int64_t stride_c, int64_t batch, const float *bias) {
    DType in = matmul_dtype();
    const void *a = as_type(A, ta, in, (batch - 1) * stride_a + M * K);
    const void *b = as_type(B, tb, in, (batch - 1) * stride_b + K * N);
    if (tc == DTYPE_BF16 && in == DTYPE_F32) {
        // fp32 products into a bf16 output (not a combination cuBLASLt runs):
        // an f32 result in scratch, packed, then rounded into C. beta is 0.
        float *c = (float *)cuda_scratch((size_t)(batch * M * N) * sizeof *c);
        blaslt(trans_a, trans_b, M, N, K, alpha, a, stride_a, b, stride_b, 0, 0.0f, c, DTYPE_F32, M * N, batch,
               aligned_bias(bias, DTYPE_F32, N));
        for (int64_t i = 0; i < batch; i++)
            convert(c + i * M * N, DTYPE_F32, (__nv_bfloat16 *)C + i * stride_c, DTYPE_BF16, M * N);
        return;
    }
    // The bias has the output's type (cuBLASLt's default, and what autocast
    // does to an f32 bias of a bf16 linear).
    const void *bias_c = bias ? aligned_bias(as_type(bias, DTYPE_F32, tc, N), tc, N) : NULL;
    blaslt(trans_a, trans_b, M, N, K, alpha, a, stride_a, b, stride_b, in == DTYPE_BF16, beta, C, tc, stride_c, batch,
           bias_c);
}

// ---- empty inner dimension: no products, C = beta·C (+ bias) ----

__global__ void scale_rows_kernel(void *c, DType tc, const float *bias, int64_t rows, int64_t cols, float beta) {
    GRID_STRIDE(k, rows * cols) {
        float v = beta == 0.0f ? 0.0f : beta * load_f32(c, tc, k); // beta = 0 ignores C, NaNs included (BLAS)
        store_f32(c, tc, k, bias ? v + bias[k % cols] : v);
    }
}

static void scale_rows(void *c, DType tc, const float *bias, int64_t rows, int64_t cols, float beta) {
    if (rows * cols == 0) return;
    scale_rows_kernel<<<cuda_blocks(rows * cols, 256), 256, 0, cuda_stream()>>>(c, tc, bias, rows, cols, beta);
    CUDA_LAUNCH_CHECK();
}

static void gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A, DType ta,
                 int64_t stride_a, const void *B, DType tb, int64_t stride_b, float beta, void *C, DType tc,
                 int64_t stride_c, int64_t batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    // A bf16 C is an activation written once (autocast's products), never an
    // accumulator: gradients, which beta = 1 adds into, are f32.
    if (tc == DTYPE_BF16 && beta != 0.0f)
        fatal("gemm: a bf16 output takes beta = 0 (got %g): accumulate into f32", (double)beta);
    if (K == 0) {
        for (int64_t b = 0; b < batch; b++)
            scale_rows((char *)C + b * stride_c * (int64_t)dtype_size(tc), tc, NULL, M, N, beta);
        return;
    }
    matmul(trans_a, trans_b, M, N, K, alpha, A, ta, stride_a, B, tb, stride_b, beta, C, tc, stride_c, batch, NULL);
}

static void linear_forward(const void *x, DType tx, const void *w, DType tw, const float *bias, void *y, DType ty,
                           int64_t R, int64_t in, int64_t out) {
    if (R == 0 || out == 0) return;
    if (in == 0) {
        scale_rows(y, ty, bias, R, out, 0.0f);
        return;
    }
    matmul(0, 1, R, out, in, 1.0f, x, tx, 0, w, tw, 0, 0.0f, y, ty, 0, 1, bias);
}

// ---- db[j] += Σ_r g[r·cols + j], and g's copy in the products' type ----
// Two fixed passes (DESIGN.md "Deterministic"): CHUNKS slabs of rows each sum
// their rows in order into a double partial per column, then one thread per
// column adds the partials in slab order. Doubles keep the result within f32
// rounding of the CPU's ordered float sum. The first pass reads every element
// of g once, so a Linear's backward also has it write g's bf16 copy there (the
// products' dy): one read of dy instead of a cast's and the sum's.

#define COLSUM_MAX_CHUNKS 64
#define COLSUM_MIN_ROWS 64 // rows per slab below which more slabs only cost scratch

__global__ void column_partials_kernel(const float *g, double *part, void *copy, DType t_copy, int64_t rows,
                                       int64_t cols, int64_t per_chunk) {
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    int64_t r0 = blockIdx.y * per_chunk, r1 = r0 + per_chunk < rows ? r0 + per_chunk : rows;
    double s = 0.0;
    for (int64_t r = r0; r < r1; r++) {
        float v = g[r * cols + j];
        s += (double)v;
        if (copy != NULL) store_f32(copy, t_copy, r * cols + j, v);
    }
    part[blockIdx.y * cols + j] = s;
}

__global__ void column_finish_kernel(float *db, const double *part, int64_t cols, int chunks) {
    int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double s = 0.0;
    for (int c = 0; c < chunks; c++) s += part[c * cols + j];
    db[j] += (float)s;
}

static void add_column_sums(float *db, const float *g, int64_t rows, int64_t cols, void *copy, DType t_copy) {
    if (cols == 0 || rows == 0) return;
    int64_t chunks = (rows + COLSUM_MIN_ROWS - 1) / COLSUM_MIN_ROWS;
    if (chunks > COLSUM_MAX_CHUNKS) chunks = COLSUM_MAX_CHUNKS;
    int64_t per_chunk = (rows + chunks - 1) / chunks;
    chunks = (rows + per_chunk - 1) / per_chunk; // no empty slab
    double *part = (double *)cuda_scratch((size_t)(chunks * cols) * sizeof *part);
    unsigned int col_blocks = (unsigned int)((cols + 255) / 256);
    column_partials_kernel<<<dim3(col_blocks, (unsigned int)chunks), 256, 0, cuda_stream()>>>(
        g, part, copy, t_copy, rows, cols, per_chunk);
    CUDA_LAUNCH_CHECK();
    column_finish_kernel<<<col_blocks, 256, 0, cuda_stream()>>>(db, part, cols, (int)chunks);
    CUDA_LAUNCH_CHECK();
}

void cuda_fill_gemm(DeviceKernels *k) {
    k->matmul_dtype = matmul_dtype;
    k->convert = convert;
    k->gemm = gemm;
    k->linear_forward = linear_forward;
    k->add_column_sums = add_column_sums;
}
