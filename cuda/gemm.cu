// Dense matrix products through cuBLASLt (STYLE.md "GEMMs go through
// cuBLASLt") and the column sums of bias gradients.
//
// The table's GEMM is row-major; cuBLASLt is column-major. A row-major [r, c]
// buffer read column-major is its transpose [c, r], so C = op(A)·op(B) is
// computed as Cᵀ = op(B)ᵀ·op(A)ᵀ: B goes in cuBLASLt's first slot with B's
// transpose flag, A in the second with A's, and nothing is transposed in
// memory.
//
// Precision (cuda/backend.h): fp32 runs f32 inputs with CUBLAS_COMPUTE_32F,
// which excludes TF32, so results stay within the 1e-5 parity bar; bf16
// converts A and B to bf16 copies in scratch memory and keeps f32 output and
// accumulation.
#include <string.h>

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

// ---- one matmul plan per shape ----

// Everything the descriptors and the heuristic's choice depend on.
typedef struct {
    int trans_a, trans_b, bf16, bias;
    int64_t M, N, K, batch, stride_a, stride_b, stride_c;
    uint32_t align_a, align_b, align_c, align_bias;
} PlanKey;

typedef struct {
    PlanKey key;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} Plan;

#define MAX_PLANS 128
static Plan plans[MAX_PLANS];
static int n_plans, next_evicted;

// The alignment cuBLASLt may assume for an operand: the largest power of two
// (at most 256, its default) dividing the base address and the batch stride,
// so that no kernel needing more is chosen for a view or an odd shape.
static uint32_t alignment(const void *p, int64_t stride_bytes) {
    uint64_t bits = (uint64_t)(uintptr_t)p | (uint64_t)stride_bytes | 256u;
    return (uint32_t)(bits & (~bits + 1));
}

// A column-major layout of `rows` x `cols` with leading dim `ld`, batched.
static cublasLtMatrixLayout_t layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                     int64_t stride) {
    cublasLtMatrixLayout_t l;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, (uint64_t)rows, (uint64_t)cols, ld));
    if (batch > 1) {
        int32_t count = (int32_t)batch;
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
        CUBLAS_CHECK(
            cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    }
    return l;
}

static void plan_destroy(Plan *p) {
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lc));
}

// The plan for `key`, built on first use; `bias` is the epilogue's vector
// (its address only informs the heuristic's alignment, the call sets it).
static Plan *plan_for(const PlanKey *key, const float *bias) {
    for (int i = 0; i < n_plans; i++)
        if (memcmp(&plans[i].key, key, sizeof *key) == 0) return &plans[i];
    Plan *p;
    if (n_plans < MAX_PLANS) {
        p = &plans[n_plans++];
    } else { // full: replace the oldest entry in turn
        p = &plans[next_evicted];
        next_evicted = (next_evicted + 1) % MAX_PLANS;
        plan_destroy(p);
    }
    memset(p, 0, sizeof *p);
    p->key = *key;

    cublasOperation_t ta = key->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N; // first slot: B
    cublasOperation_t tb = key->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N; // second slot: A
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (key->bias) {
        // The bias runs along cuBLASLt's rows of D = the row-major columns (out features).
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    cudaDataType_t in_type = key->bf16 ? CUDA_R_16BF : CUDA_R_32F;
    int64_t M = key->M, N = key->N, K = key->K;
    // Stored row-major B is [K, N] (or [N, K] transposed), i.e. column-major [N, K] (or [K, N]).
    p->la = key->trans_b ? layout(in_type, K, N, K, key->batch, key->stride_b)
                         : layout(in_type, N, K, N, key->batch, key->stride_b);
    p->lb = key->trans_a ? layout(in_type, M, K, M, key->batch, key->stride_a)
                         : layout(in_type, K, M, K, key->batch, key->stride_a);
    p->lc = layout(CUDA_R_32F, N, M, N, key->batch, key->stride_c);

    size_t ws_bytes;
    cuda_gemm_workspace(&ws_bytes);
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                      sizeof ws_bytes));
    // cuBLASLt's A slot holds our B and its B slot our A.
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key->align_b,
                                                      sizeof key->align_b));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key->align_a,
                                                      sizeof key->align_a));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key->align_c,
                                                      sizeof key->align_c));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key->align_c,
                                                      sizeof key->align_c));
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(cuda_blaslt(), p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &result,
                                                &found));
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    if (found == 0)
        fatal("gemm: cuBLASLt has no algorithm for %s M=%lld N=%lld K=%lld batch=%lld trans %d/%d%s",
              key->bf16 ? "bf16" : "fp32", (long long)M, (long long)N, (long long)K, (long long)key->batch,
              key->trans_a, key->trans_b, key->bias ? " with bias" : "");
    p->algo = result.algo;
    return p;
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
    size_t elem = bf16 ? 2 : 4;
    PlanKey key;
    memset(&key, 0, sizeof key); // padding too: keys are compared bytewise
    key.trans_a = trans_a != 0;
    key.trans_b = trans_b != 0;
    key.bf16 = bf16;
    key.bias = bias != NULL;
    key.M = M;
    key.N = N;
    key.K = K;
    key.batch = batch;
    key.stride_a = stride_a;
    key.stride_b = stride_b;
    key.stride_c = stride_c;
    key.align_a = alignment(a, batch > 1 ? stride_a * (int64_t)elem : 0);
    key.align_b = alignment(b, batch > 1 ? stride_b * (int64_t)elem : 0);
    key.align_c = alignment(C, batch > 1 ? stride_c * 4 : 0);
    key.align_bias = bias ? alignment(bias, 0) : 0;
    Plan *p = plan_for(&key, bias);
    if (bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    size_t ws_bytes;
    void *ws = cuda_gemm_workspace(&ws_bytes);
    CUBLAS_CHECK(cublasLtMatmul(cuda_blaslt(), p->desc, &alpha, b, p->la, a, p->lb, &beta, C, p->lc, C, p->lc,
                                &p->algo, ws, ws_bytes, cuda_stream()));
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
