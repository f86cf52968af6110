// The one cuBLASLt call behind the table's GEMM entries (cuda/gemm.cu calls
// it, cuda/gemm_blaslt.cu defines it; the CPU emulator of tests/cuda_emu/
// defines a host GEMM in its place).
#ifndef CUDA_BLASLT_CUH
#define CUDA_BLASLT_CUH

#include <stdint.h>

extern "C" {
#include "core/tensor.h"
}

// For b in [0, batch): C_b = alpha·op(A_b)·op(B_b) + beta·C_b (+ bias[j] on
// every row when bias != NULL), row-major as autograd/device_kernels.h's
// gemm; K > 0. A and B are f32, or bf16 when `bf16`; accumulation is f32.
// C is stored as c_type (f32, or bf16 rounded from the f32 result, issue 5
// "Precision"), and the bias has C's type (cuBLASLt's default bias type).
void cuda_blaslt_matmul(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                        int64_t stride_a, const void *B, int64_t stride_b, int bf16, float beta, void *C,
                        DType c_type, int64_t stride_c, int64_t batch, const void *bias);

#endif
