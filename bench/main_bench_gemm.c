/* bin/bench_gemm: CPU GEMM throughput at ViT-B / BERT-base shapes, for the
 * kernel behind core/gemm.h (OpenBLAS) and a handwritten AVX2/FMA candidate
 * (bench/gemm_handwritten.c). bench/gemm.bench.sh runs it side by side with
 * bench/gemm_torch.py (PyTorch CPU, same shapes, same thread count).
 *
 * Shapes: the forward GEMMs of one ViT-B/16 image (197 tokens) or a batch of
 * 8, and the transposed products of their backward (dx = dy·W, dW = dyᵀ·x).
 * Each implementation is checked against the other (max relative error) and
 * timed: median of --reps runs after 2 warm-ups. Prints one line per shape:
 *   <name> <M> <N> <K> <ta> <tb> <openblas GFLOP/s> <handwritten GFLOP/s> <max rel err> */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/gemm_handwritten.c"
#include "core/clock.h"
#include "core/gemm.h"

typedef struct {
    const char *name;
    int64_t M, N, K;
    int ta, tb;
    float beta; /* 0: a fresh output (forward); 1: accumulate (backward) */
} GemmCase;

/* The names match bench/gemm_torch.py. */
static const GemmCase cases[] = {
    {"fwd_qkv", 197, 2304, 768, 0, 1, 0.0f},     /* x [197,768] · Wqkvᵀ, W [2304,768] */
    {"fwd_fc1", 197, 3072, 768, 0, 1, 0.0f},     /* MLP up-projection */
    {"fwd_fc2", 197, 768, 3072, 0, 1, 0.0f},     /* MLP down-projection */
    {"fwd_qkv_b8", 1576, 2304, 768, 0, 1, 0.0f}, /* a batch of 8 images */
    {"bwd_dx_fc1", 197, 768, 3072, 0, 0, 1.0f},  /* dx += dy [197,3072] · W [3072,768] */
    {"bwd_dw_fc1", 3072, 768, 197, 1, 0, 1.0f},  /* dW += dyᵀ · x */
    {"bwd_dw_qkv", 2304, 768, 197, 1, 0, 1.0f},
};

typedef void (*GemmFn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                       int64_t, float, float *, int64_t);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *random_matrix(int64_t n, unsigned seed) {
    float *m = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
    if (!m) abort();
    srand(seed);
    for (int64_t k = 0; k < n; k++) m[k] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return m;
}

/* Median seconds of one call over reps (after 2 warm-ups). C starts from the
 * same contents every call so beta = 1 cases do not drift. */
static double time_gemm(GemmFn fn, const GemmCase *c, const float *A, const float *B, float *C, const float *C0,
                        int reps) {
    int64_t lda = c->ta ? c->M : c->K, ldb = c->tb ? c->K : c->N;
    double *t = malloc((size_t)reps * sizeof(double));
    for (int r = -2; r < reps; r++) {
        memcpy(C, C0, (size_t)(c->M * c->N) * sizeof(float));
        double t0 = clock_seconds();
        fn(c->ta, c->tb, c->M, c->N, c->K, 1.0f, A, lda, B, ldb, c->beta, C, c->N);
        double dt = clock_seconds() - t0;
        if (r >= 0) t[r] = dt;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    double med = t[reps / 2];
    free(t);
    return med;
}

int main(int argc, char **argv) {
    int reps = 10;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--reps") && k + 1 < argc) reps = atoi(argv[++k]);
        else {
            fprintf(stderr, "usage: %s [--reps N (10)]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const GemmCase *c = &cases[i];
        int64_t lda = c->ta ? c->M : c->K, ldb = c->tb ? c->K : c->N;
        float *A = random_matrix(c->M * c->K, 1), *B = random_matrix(c->K * c->N, 2);
        float *C0 = random_matrix(c->M * c->N, 3), *C = random_matrix(c->M * c->N, 4);
        float *ref = random_matrix(c->M * c->N, 5);
        /* Agreement first: the candidate must compute the same product. */
        memcpy(ref, C0, (size_t)(c->M * c->N) * sizeof(float));
        gemm_f32(c->ta, c->tb, c->M, c->N, c->K, 1.0f, A, lda, B, ldb, c->beta, ref, c->N);
        memcpy(C, C0, (size_t)(c->M * c->N) * sizeof(float));
        gemm_handwritten(c->ta, c->tb, c->M, c->N, c->K, 1.0f, A, lda, B, ldb, c->beta, C, c->N);
        double err = 0.0;
        for (int64_t k = 0; k < c->M * c->N; k++)
            err = fmax(err, fabs((double)C[k] - ref[k]) / (1.0 + fabs((double)ref[k])));
        double flop = 2.0 * (double)c->M * (double)c->N * (double)c->K;
        /* OpenBLAS's pthreads and libgomp's threads both spin for a while after
         * a call; the pause lets one pool fall asleep before the other runs, so
         * neither is timed while the other's idle threads hold the cores. */
        usleep(300000);
        double t_blas = time_gemm(gemm_f32, c, A, B, C, C0, reps);
        usleep(300000);
        double t_hand = time_gemm(gemm_handwritten, c, A, B, C, C0, reps);
        printf("%s %lld %lld %lld %d %d %.1f %.1f %.1e\n", c->name, (long long)c->M, (long long)c->N,
               (long long)c->K, c->ta, c->tb, flop / t_blas * 1e-9, flop / t_hand * 1e-9, err);
        fflush(stdout);
        free(A);
        free(B);
        free(C0);
        free(C);
        free(ref);
    }
    return 0;
}
