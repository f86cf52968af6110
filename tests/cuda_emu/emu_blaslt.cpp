// The CUDA kernel emulator's stand-in for cuda/gemm_blaslt.cu: the same
// product on the host. Sums run in double, so the result is close to the
// exact product rounded once to f32 (cuBLASLt's f32 accumulation is within
// the parity tolerance of it, not bit-equal). bf16 inputs arrive already
// rounded (bf16 activations, or copies made by the real convert kernel of
// cuda/gemm.cu), so bf16 mode sees the GPU's inputs. A bf16 output (issue 5
// "Precision") is that f32 result rounded to nearest even, as cuBLASLt's
// epilogue does, with a bias of the output's type.
#include <vector>

#include "cuda/blaslt.cuh"
#include "cuda/common.cuh"

// op(X) of one batch entry as a dense row-major [rows, K] array of doubles
// (op(B) is stored transposed, [N, K]), so each output is a contiguous dot.
static void unpack(const void *x, int bf16, int64_t rows, int64_t K, int rows_are_columns, double *out) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < K; k++) {
            int64_t at = rows_are_columns ? k * rows + r : r * K + k;
            out[r * K + k] = bf16 ? __bfloat162float(((const __nv_bfloat16 *)x)[at]) : ((const float *)x)[at];
        }
}

static void product_now(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                        int64_t stride_a, const void *B, int64_t stride_b, int bf16, float beta, void *C,
                        DType c_type, int64_t stride_c, int64_t batch, const void *bias) {
    const int64_t elem = bf16 ? 2 : 4;
    const int c_bf16 = c_type == DTYPE_BF16;
    // Element e of C, or of the bias, which has C's type.
    auto c_at = [c_bf16](const void *p, int64_t e) -> float {
        return c_bf16 ? __bfloat162float(((const __nv_bfloat16 *)p)[e]) : ((const float *)p)[e];
    };
    if (emu_accounting_only()) return; // tests/cuda_emu/emu_scheduler.h
    std::vector<double> a((size_t)(M * K)), bt((size_t)(N * K));
    emu_memory_open();
    for (int64_t b = 0; b < batch; b++) {
        unpack((const char *)A + b * stride_a * elem, bf16, M, K, trans_a, a.data());
        // op(B)ᵀ [N, K]: stored B is [K, N] (read by columns) or, transposed, [N, K].
        unpack((const char *)B + b * stride_b * elem, bf16, N, K, !trans_b, bt.data());
        char *c = (char *)C + b * stride_c * (c_bf16 ? 2 : 4);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                const double *ar = &a[(size_t)(i * K)], *br = &bt[(size_t)(j * K)];
                double s[4] = {0, 0, 0, 0};
                int64_t k = 0;
                for (; k + 4 <= K; k += 4)
                    for (int u = 0; u < 4; u++) s[u] += ar[k + u] * br[k + u];
                for (; k < K; k++) s[0] += ar[k] * br[k];
                // cuBLASLt's epilogue: alpha·AB + beta·C, then the bias;
                // beta = 0 never reads C (it may hold NaN poison).
                double r = (double)alpha * ((s[0] + s[1]) + (s[2] + s[3]));
                if (beta != 0.0f) r += (double)beta * c_at(c, i * N + j);
                if (bias) r += c_at(bias, j);
                if (c_bf16) ((__nv_bfloat16 *)c)[i * N + j] = __float2bfloat16_rn((float)r);
                else ((float *)c)[i * N + j] = (float)r;
            }
    }
    emu_memory_close();
}

// During a capture the product is a node of the graph, run when it runs.
void cuda_blaslt_matmul(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                        int64_t stride_a, const void *B, int64_t stride_b, int bf16, float beta, void *C,
                        DType c_type, int64_t stride_c, int64_t batch, const void *bias) {
    // cuBLASLt's bias epilogue may load the vector 16 bytes at a time (its
    // alignment preferences do not cover it): cuda/gemm.cu must hand it an
    // aligned one.
    if (bias != nullptr && (uintptr_t)bias % 16 != 0)
        fatal("cuda emulator: cuBLASLt bias epilogue given a bias at %p, not 16-byte aligned", bias);
    if (!emu_graph_capturing()) {
        product_now(trans_a, trans_b, M, N, K, alpha, A, stride_a, B, stride_b, bf16, beta, C, c_type, stride_c,
                    batch, bias);
        return;
    }
    emu_graph_record(&emu_node_product, [=] {
        product_now(trans_a, trans_b, M, N, K, alpha, A, stride_a, B, stride_b, bf16, beta, C, c_type, stride_c,
                    batch, bias);
    });
}
