/* The CPU GEMM seam: every dense matrix product of the CPU backend goes
 * through gemm_f32, so the kernel behind it can change (OpenBLAS today; see
 * bench/README.md "CPU GEMM" for the measurement that chose it) without
 * touching the ops.
 *
 * Row-major, BLAS semantics:
 *   C[M, N] = alpha · op(A) · op(B) + beta · C
 * op(A) is [M, K]: A is stored [M, K] with row stride lda (trans_a = 0) or
 * [K, M] with row stride lda (trans_a = 1); likewise op(B) is [K, N] from B
 * stored [K, N] or [N, K]. beta = 1 accumulates into C, which is how the
 * backward passes add into gradients. beta = 0 ignores C's old contents
 * (NaNs included), as BLAS specifies. */
#ifndef CORE_GEMM_H
#define CORE_GEMM_H

#include <stdint.h>

void gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
