// The cuBLASLt half of the GEMM entries (cuda/gemm.cu has the rest): one
// call of cublasLtMatmul with a plan cached per shape (STYLE.md "GEMMs go
// through cuBLASLt").
//
// The table's GEMM is row-major; cuBLASLt is column-major. A row-major [r, c]
// buffer read column-major is its transpose [c, r], so C = op(A)·op(B) is
// computed as Cᵀ = op(B)ᵀ·op(A)ᵀ: B goes in cuBLASLt's first slot with B's
// transpose flag, A in the second with A's, and nothing is transposed in
// memory.
//
// Precision (cuda/backend.h): fp32 runs f32 inputs with CUBLAS_COMPUTE_32F,
// which excludes TF32, so results stay within the 1e-5 parity bar; bf16
// inputs (prepared by cuda/gemm.cu) keep f32 accumulation, and their output
// is f32 or, for the activations of issue 5 "Precision", bf16 (D and C in
// CUDA_R_16BF, the bias of D's type: cuBLASLt's default bias type).
//
// This file is the only kernel code the CPU emulator of tests/cuda_emu/ does
// not run: it replaces cuda_blaslt_matmul with a host GEMM.
#include <stdio.h>
#include <string.h>

#include "cuda/blaslt.cuh"
#include "cuda/common.cuh"

// ---- one matmul plan per shape ----

// Everything the descriptors and the heuristic's choice depend on.
typedef struct {
    int trans_a, trans_b, bf16, c_bf16, bias;
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

// The request in words, for the messages of a failed plan or call.
static const char *describe(const PlanKey *key, char *buf, size_t size) {
    snprintf(buf, size,
             "%s inputs -> %s output, M=%lld N=%lld K=%lld batch=%lld, trans a/b %d/%d, batch strides a/b/c "
             "%lld/%lld/%lld elements, alignments a/b/c %u/%u/%u bytes%s",
             key->bf16 ? "bf16" : "fp32", key->c_bf16 ? "bf16" : "fp32", (long long)key->M, (long long)key->N,
             (long long)key->K, (long long)key->batch, key->trans_a, key->trans_b, (long long)key->stride_a,
             (long long)key->stride_b, (long long)key->stride_c, key->align_a, key->align_b, key->align_c,
             key->bias ? (key->align_bias % 16 ? ", bias (unaligned)" : ", bias") : "");
    return buf;
}

static void plan_destroy(Plan *p) {
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lc));
}

// The plan for `key`, built on first use; `bias` is the epilogue's vector
// (its address only informs the heuristic's alignment, the call sets it).
static Plan *plan_for(const PlanKey *key, const void *bias) {
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
    p->lc = layout(key->c_bf16 ? CUDA_R_16BF : CUDA_R_32F, N, M, N, key->batch, key->stride_c);

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
    // No algorithm for the request comes back as a status (NOT_SUPPORTED),
    // not as found = 0: either way the message names the request, which is
    // what decides it (types, shape, strides and the alignments promised).
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cuda_blaslt(), p->desc, p->la, p->lb, p->lc, p->lc, pref, 1,
                                                       &result, &found);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
        char what[320];
        fatal("gemm: cuBLASLt has no algorithm (%s) for %s",
              st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusString(st) : "an empty result",
              describe(key, what, sizeof what));
    }
    p->algo = result.algo;
    return p;
}

void cuda_blaslt_matmul(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *a,
                        int64_t stride_a, const void *b, int64_t stride_b, int bf16, float beta, void *C,
                        DType c_type, int64_t stride_c, int64_t batch, const void *bias) {
    size_t elem = bf16 ? 2 : 4, c_elem = dtype_size(c_type);
    PlanKey key;
    memset(&key, 0, sizeof key); // padding too: keys are compared bytewise
    key.trans_a = trans_a != 0;
    key.trans_b = trans_b != 0;
    key.bf16 = bf16;
    key.c_bf16 = c_type == DTYPE_BF16;
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
    key.align_c = alignment(C, batch > 1 ? stride_c * (int64_t)c_elem : 0);
    key.align_bias = bias ? alignment(bias, 0) : 0;
    Plan *p = plan_for(&key, bias);
    if (bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    size_t ws_bytes;
    void *ws = cuda_gemm_workspace(&ws_bytes);
    cublasStatus_t st = cublasLtMatmul(cuda_blaslt(), p->desc, &alpha, b, p->la, a, p->lb, &beta, C, p->lc, C, p->lc,
                                       &p->algo, ws, ws_bytes, cuda_stream());
    if (st != CUBLAS_STATUS_SUCCESS) {
        char what[320];
        fatal("gemm: cublasLtMatmul failed (%s) for %s", cublasLtGetStatusString(st), describe(&key, what, sizeof what));
    }
}

