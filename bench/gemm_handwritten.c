/* A handwritten AVX2/FMA SGEMM, the candidate measured against OpenBLAS by
 * bin/bench_gemm (bench/README.md "CPU GEMM"). Included by
 * bench/main_bench_gemm.c only: it is not part of the library.
 *
 * Same contract as gemm_f32 (row-major, C = alpha·op(A)·op(B) + beta·C).
 * Structure (the Goto/BLIS layering):
 *   jc: N in NC-wide panels  ->  pc: K in KC-deep slices, B slice packed into
 *   NR-wide strips (stays in L3/L2)  ->  ic: M in MC-tall blocks, A block packed
 *   into MR-tall strips (stays in L2)  ->  jr, ir: one 6x16 register tile per
 *   (A strip, B strip) pair, the B strip (KC·16 floats = 16 KiB) in L1.
 * Transposes are absorbed by the packing, so the kernel sees one layout.
 * Threads split N (see gemm_handwritten). */
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HW_MR 6
#define HW_NR 16
#define HW_KC 256
#define HW_MC 96
#define HW_NC 3072

static int64_t hw_min(int64_t a, int64_t b) { return a < b ? a : b; }

/* A block rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row strips,
 * each stored k-major (MR values per k), zero-padded past mc. */
static void hw_pack_a_strip(const float *A, int64_t lda, int ta, int64_t i0, int64_t rows, int64_t p0,
                            int64_t kc, float *dst) {
    for (int64_t p = 0; p < kc; p++)
        for (int64_t r = 0; r < HW_MR; r++)
            dst[p * HW_MR + r] =
                r < rows ? (ta ? A[(p0 + p) * lda + i0 + r] : A[(i0 + r) * lda + p0 + p]) : 0.0f;
}

/* op(B) rows [p0, p0+kc) x cols [j0, j0+cols) into one NR-wide strip, k-major. */
static void hw_pack_b_strip(const float *B, int64_t ldb, int tb, int64_t p0, int64_t kc, int64_t j0,
                            int64_t cols, float *dst) {
    if (!tb && cols == HW_NR) {
        for (int64_t p = 0; p < kc; p++) memcpy(dst + p * HW_NR, B + (p0 + p) * ldb + j0, HW_NR * sizeof(float));
        return;
    }
    for (int64_t p = 0; p < kc; p++)
        for (int64_t c = 0; c < HW_NR; c++)
            dst[p * HW_NR + c] =
                c < cols ? (tb ? B[(j0 + c) * ldb + p0 + p] : B[(p0 + p) * ldb + j0 + c]) : 0.0f;
}

/* C[0:mr, 0:nr] += alpha · (a strip) · (b strip) over kc: 12 ymm accumulators,
 * 2 B loads and 6 A broadcasts feed 12 FMAs per k. */
static void hw_kernel_6x16(int64_t kc, const float *a, const float *b, float *C, int64_t ldc, float alpha,
                           int64_t mr, int64_t nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
           c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
           c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), av;
        av = _mm256_broadcast_ss(a + 0);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
        a += HW_MR;
        b += HW_NR;
    }
    __m256 acc[HW_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256 va = _mm256_set1_ps(alpha);
    if (mr == HW_MR && nr == HW_NR) {
        for (int r = 0; r < HW_MR; r++) {
            float *cr = C + r * ldc;
            _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, acc[r][0], _mm256_loadu_ps(cr)));
            _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, acc[r][1], _mm256_loadu_ps(cr + 8)));
        }
        return;
    }
    /* Edge tile: spill and add only the rows and columns inside C. */
    float tmp[HW_MR][HW_NR] __attribute__((aligned(32)));
    for (int r = 0; r < HW_MR; r++) {
        _mm256_store_ps(tmp[r], acc[r][0]);
        _mm256_store_ps(tmp[r] + 8, acc[r][1]);
    }
    for (int64_t r = 0; r < mr; r++)
        for (int64_t c = 0; c < nr; c++) C[r * ldc + c] += alpha * tmp[r][c];
}

/* One thread's share: columns [j_begin, j_end) of C, with its own packing
 * buffers, so threads never wait on each other until the end. */
static void hw_gemm_columns(int ta, int tb, int64_t M, int64_t j_begin, int64_t j_end, int64_t K, float alpha,
                            const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                            int64_t ldc, float *apack, float *bpack) {
    if (beta != 1.0f)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = j_begin; j < j_end; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    if (K == 0 || alpha == 0.0f) return;
    for (int64_t jc = j_begin; jc < j_end; jc += HW_NC) {
        int64_t nc = hw_min(HW_NC, j_end - jc), ns = (nc + HW_NR - 1) / HW_NR;
        for (int64_t pc = 0; pc < K; pc += HW_KC) {
            int64_t kc = hw_min(HW_KC, K - pc);
            for (int64_t t = 0; t < ns; t++)
                hw_pack_b_strip(B, ldb, tb, pc, kc, jc + t * HW_NR, hw_min(HW_NR, nc - t * HW_NR),
                                bpack + t * HW_NR * kc);
            for (int64_t ic = 0; ic < M; ic += HW_MC) {
                int64_t mc = hw_min(HW_MC, M - ic), ms = (mc + HW_MR - 1) / HW_MR;
                for (int64_t s = 0; s < ms; s++)
                    hw_pack_a_strip(A, lda, ta, ic + s * HW_MR, hw_min(HW_MR, mc - s * HW_MR), pc, kc,
                                    apack + s * HW_MR * kc);
                for (int64_t t = 0; t < ns; t++) {
                    int64_t nr = hw_min(HW_NR, nc - t * HW_NR);
                    for (int64_t s = 0; s < ms; s++)
                        hw_kernel_6x16(kc, apack + s * HW_MR * kc, bpack + t * HW_NR * kc,
                                       C + (ic + s * HW_MR) * ldc + jc + t * HW_NR, ldc, alpha,
                                       hw_min(HW_MR, mc - s * HW_MR), nr);
                }
            }
        }
    }
}

/* Threads split N into equal runs of whole NR strips; each packs its own A
 * blocks (M·K extra reads per thread, small next to M·N·K/threads FMAs). A
 * first version split the jr loop of one shared packed B with barriers per
 * block: on this shared 2-core VM a descheduled thread stalled the other at
 * every barrier (5-10 GFLOP/s under load), so the split is now barrier-free. */
static void gemm_handwritten(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    int64_t strips = (N + HW_NR - 1) / HW_NR;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t s0 = strips * id / nt, s1 = strips * (id + 1) / nt;
        int64_t j0 = s0 * HW_NR, j1 = hw_min(N, s1 * HW_NR);
        if (j0 < j1) {
            int64_t kc_max = hw_min(K, HW_KC), mc_max = hw_min(M, HW_MC), nc_max = hw_min(j1 - j0, HW_NC);
            /* aligned_alloc wants a size that is a multiple of the alignment. */
            size_t abytes = ((size_t)(((mc_max + HW_MR - 1) / HW_MR) * HW_MR * kc_max) * sizeof(float) + 63) / 64 * 64;
            size_t bbytes = ((size_t)(((nc_max + HW_NR - 1) / HW_NR) * HW_NR * kc_max) * sizeof(float) + 63) / 64 * 64;
            float *apack = aligned_alloc(64, abytes), *bpack = aligned_alloc(64, bbytes);
            if (!apack || !bpack) abort();
            hw_gemm_columns(ta, tb, M, j0, j1, K, alpha, A, lda, B, ldb, beta, C, ldc, apack, bpack);
            free(apack);
            free(bpack);
        }
    }
}
