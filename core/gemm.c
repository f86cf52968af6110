/* gemm_f32 on OpenBLAS. OpenBLAS (OpenMP build) dispatches at run time to the
 * best kernel of the machine it runs on and sizes its thread pool from
 * OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, so the library itself stays built for
 * plain x86-64-v3. The measurement that chose OpenBLAS over a handwritten
 * AVX2 kernel is in bench/README.md, "CPU GEMM". */
#include "core/gemm.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>

#include "core/error.h"

/* Products of at most this many multiply-adds (M·N·K) run on one thread:
 * waking OpenBLAS's other threads costs more than it saves on them. Measured
 * on the 2-core VM (bench/README.md, "Tiny ALBEF-NLVR2 MultiDelete step"):
 * the NLVR2 step at 2 threads went from 72-75 ms to 62-64 ms; 2^20 and 2^24
 * gave 65 and 64 ms. */
#define GEMM_SERIAL_MAX_MACS ((int64_t)1 << 22)

void gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_f32: negative size %lld x %lld x %lld", (long long)M,
          (long long)N, (long long)K);
    /* cblas takes 32-bit sizes; a product past that is a bug upstream, not a
     * model we run on the CPU. */
    CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
              ldc <= INT_MAX,
          "gemm_f32: size beyond 32-bit BLAS");
    CHECK(ldc >= N || M == 0, "gemm_f32: ldc %lld < N %lld", (long long)ldc, (long long)N);
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == 0.0f) {
        /* Nothing to multiply: only C's scaling remains. Done here because
         * BLAS's leading-dimension rules (lda >= max(1, K)) are awkward at K = 0. */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    CHECK(lda >= (trans_a ? M : K), "gemm_f32: lda %lld too small", (long long)lda);
    CHECK(ldb >= (trans_b ? K : N), "gemm_f32: ldb %lld too small", (long long)ldb);
    const int threads = omp_get_max_threads();
    const int serial = threads > 1 && M * N * K <= GEMM_SERIAL_MAX_MACS;
    if (serial) omp_set_num_threads(1); /* OpenBLAS's OpenMP build sizes each call from this */
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    if (serial) omp_set_num_threads(threads);
}
