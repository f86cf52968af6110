/* Matrix products: the GEMM seam and op_matmul / op_linear, forward against
 * naive triple loops in double, backward by finite differences, over odd
 * sizes, every transpose combination, batched and shared (2-d) B. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/gemm.h"
#include "tests/test.h"

/* op(X)[i][j] of a row-major matrix stored with row stride ld. */
static double elem(const float *X, int64_t ld, int trans, int64_t i, int64_t j) {
    return trans ? X[j * ld + i] : X[i * ld + j];
}

TEST(test_gemm_f32_matches_naive_with_alpha_beta_strides_and_transposes) {
    const int64_t M = 5, N = 3, K = 7, pad = 2; /* leading dims larger than the rows */
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            Tensor *A = tensor_random_uniform(SHAPE(ta ? K : M, lda), -1, 1, 1);
            Tensor *B = tensor_random_uniform(SHAPE(tb ? N : K, ldb), -1, 1, 2);
            Tensor *C = tensor_random_uniform(SHAPE(M, ldc), -1, 1, 3);
            float want[5 * 5], c0[5 * 5];
            for (int64_t k = 0; k < M * ldc; k++) c0[k] = tensor_f32(C)[k];
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < ldc; j++) {
                    double s = 0.0;
                    for (int64_t p = 0; p < K && j < N; p++)
                        s += elem(tensor_f32(A), lda, ta, i, p) * elem(tensor_f32(B), ldb, tb, p, j);
                    /* Columns past N are padding: gemm must leave them alone. */
                    want[i * ldc + j] = j < N ? (float)(0.5 * s + 2.0 * c0[i * ldc + j]) : c0[i * ldc + j];
                }
            gemm_f32(ta, tb, M, N, K, 0.5f, tensor_f32(A), lda, tensor_f32(B), ldb, 2.0f, tensor_f32(C), ldc);
            ASSERT_CLOSE_ARRAY(tensor_f32(C), want, M * ldc, 1e-5, 1e-5);
        }
    }
    /* K = 0: the product is empty, C = beta·C. */
    float c[6] = {1, 2, 3, 4, 5, 6}, a[1] = {0}, b[1] = {0};
    gemm_f32(0, 0, 2, 3, 0, 1.0f, a, 1, b, 3, 3.0f, c, 3);
    ASSERT_NEAR(c[5], 18.0, 0.0);
}

typedef struct {
    int a_ndim;
    int64_t a_shape[4];
    int b_ndim;
    int64_t b_shape[4];
    int ta, tb;
} MatmulCase;

/* Every batched layout op_matmul supports, each with the transpose it needs. */
static const MatmulCase matmul_cases[] = {
    {2, {5, 7}, 2, {7, 3}, 0, 0},
    {2, {7, 5}, 2, {7, 3}, 1, 0},
    {2, {5, 7}, 2, {3, 7}, 0, 1},
    {2, {7, 5}, 2, {3, 7}, 1, 1},
    {3, {3, 5, 7}, 3, {3, 7, 4}, 0, 0},
    {3, {3, 7, 5}, 3, {3, 7, 4}, 1, 0},
    {3, {3, 5, 7}, 3, {3, 4, 7}, 0, 1},
    {3, {3, 7, 5}, 3, {3, 4, 7}, 1, 1},
    {4, {2, 3, 4, 5}, 4, {2, 3, 5, 3}, 0, 0},  /* [B, H, T, D] attention layout */
    {4, {2, 3, 4, 5}, 4, {2, 3, 6, 5}, 0, 1},  /* Q Kᵀ */
    {3, {3, 5, 7}, 2, {7, 4}, 0, 0},           /* shared B, batch folded into rows */
    {3, {3, 5, 7}, 2, {4, 7}, 0, 1},
    {3, {3, 7, 5}, 2, {7, 4}, 1, 0},           /* shared B, per-batch loop */
    {3, {3, 7, 5}, 2, {4, 7}, 1, 1},
};
#define N_MATMUL_CASES ((int)(sizeof matmul_cases / sizeof matmul_cases[0]))

static Tensor *apply_matmul(Tensor **in, void *ctx) {
    const MatmulCase *c = ctx;
    return op_matmul(in[0], in[1], c->ta, c->tb);
}

static void make_matmul_inputs(const MatmulCase *c, Tensor **in) {
    in[0] = tensor_random_uniform(c->a_ndim, c->a_shape, -1, 1, 10);
    in[1] = tensor_random_uniform(c->b_ndim, c->b_shape, -1, 1, 20);
    in[0]->requires_grad = in[1]->requires_grad = 1;
}

TEST(test_matmul_forward_matches_naive_loops_every_layout) {
    for (int ci = 0; ci < N_MATMUL_CASES; ci++) {
        const MatmulCase *c = &matmul_cases[ci];
        Tensor *in[2];
        make_matmul_inputs(c, in);
        Tensor *out = op_matmul(in[0], in[1], c->ta, c->tb);
        int nd = c->a_ndim;
        int64_t ar = c->a_shape[nd - 2], ac = c->a_shape[nd - 1];
        int64_t M = c->ta ? ac : ar, K = c->ta ? ar : ac;
        int64_t N = c->tb ? c->b_shape[c->b_ndim - 2] : c->b_shape[c->b_ndim - 1];
        int64_t batch = 1;
        for (int d = 0; d < nd - 2; d++) batch *= c->a_shape[d];
        ASSERT_EQ_INT(out->ndim, nd);
        ASSERT_EQ_INT(out->shape[nd - 2], M);
        ASSERT_EQ_INT(out->shape[nd - 1], N);
        ASSERT_EQ_INT(tensor_numel(out), batch * M * N);
        int shared = c->b_ndim == 2;
        for (int64_t b = 0; b < batch; b++) {
            const float *A = tensor_f32(in[0]) + b * M * K;
            const float *B = tensor_f32(in[1]) + (shared ? 0 : b * K * N);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0.0;
                    for (int64_t p = 0; p < K; p++)
                        s += elem(A, c->ta ? M : K, c->ta, i, p) * elem(B, c->tb ? K : N, c->tb, p, j);
                    ASSERT_MSG(fabs(tensor_f32(out)[(b * M + i) * N + j] - s) < 1e-5,
                               "case %d batch %lld (%lld, %lld): %g vs %g", ci, (long long)b, (long long)i,
                               (long long)j, tensor_f32(out)[(b * M + i) * N + j], s);
                }
        }
    }
}

TEST(test_matmul_gradients_match_finite_differences_every_layout) {
    for (int ci = 0; ci < N_MATMUL_CASES; ci++) {
        Tensor *in[2];
        make_matmul_inputs(&matmul_cases[ci], in);
        ASSERT_MSG(gradcheck(apply_matmul, in, 2, (void *)&matmul_cases[ci], gradcheck_defaults()) == 0,
                   "case %d: %s", ci, error_message());
    }
}

TEST(test_matmul_gradient_only_to_inputs_that_require_it) {
    const MatmulCase *c = &matmul_cases[10]; /* shared B */
    Tensor *in[2];
    make_matmul_inputs(c, in);
    in[1]->requires_grad = 0;
    ASSERT(gradcheck(apply_matmul, in, 2, (void *)c, gradcheck_defaults()) == 0);
    ASSERT(in[1]->grad == NULL);
    in[0]->requires_grad = 0;
    in[1]->requires_grad = 1;
    ASSERT(gradcheck(apply_matmul, in, 2, (void *)c, gradcheck_defaults()) == 0);
    ASSERT(in[0]->grad == NULL);
}

static Tensor *apply_linear(Tensor **in, void *ctx) {
    return op_linear(in[0], in[1], ctx ? in[2] : NULL);
}

/* x [2, 3, 5] (and a single row [5]) through w [4, 5] with and without bias. */
TEST(test_linear_forward_matches_naive_loops) {
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        for (int xdims = 1; xdims <= 3; xdims += 2) {
            Tensor *x = xdims == 3 ? tensor_random_uniform(SHAPE(2, 3, 5), -1, 1, 1)
                                   : tensor_random_uniform(SHAPE(5), -1, 1, 1);
            Tensor *w = tensor_random_uniform(SHAPE(4, 5), -1, 1, 2);
            Tensor *bias = tensor_random_uniform(SHAPE(4), -1, 1, 3);
            Tensor *y = op_linear(x, w, with_bias ? bias : NULL);
            ASSERT_EQ_INT(y->ndim, xdims);
            ASSERT_EQ_INT(y->shape[xdims - 1], 4);
            int64_t rows = tensor_rows(x);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t o = 0; o < 4; o++) {
                    double s = with_bias ? tensor_f32(bias)[o] : 0.0;
                    for (int64_t i = 0; i < 5; i++) s += (double)tensor_f32(x)[r * 5 + i] * tensor_f32(w)[o * 5 + i];
                    ASSERT_NEAR(tensor_f32(y)[r * 4 + o], s, 1e-5);
                }
        }
    }
}

TEST(test_linear_gradients_match_finite_differences) {
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        Tensor *in[3] = {tensor_random_uniform(SHAPE(2, 3, 5), -1, 1, 1),
                         tensor_random_uniform(SHAPE(7, 5), -1, 1, 2), tensor_random_uniform(SHAPE(7), -1, 1, 3)};
        for (int k = 0; k < 3; k++) in[k]->requires_grad = 1;
        ASSERT_MSG(gradcheck(apply_linear, in, with_bias ? 3 : 2, with_bias ? (void *)1 : NULL,
                             gradcheck_defaults()) == 0,
                   "bias %d: %s", with_bias, error_message());
    }
}

/* Large enough (rows·out > 65536) for the threaded bias fill and column sums. */
TEST(test_linear_bias_gradient_is_column_sum_at_threaded_size) {
    Tensor *x = tensor_random_uniform(SHAPE(300, 16), -1, 1, 4);
    Tensor *w = tensor_random_uniform(SHAPE(257, 16), -1, 1, 5);
    Tensor *b = tensor_random_uniform(SHAPE(257), -1, 1, 6);
    b->requires_grad = 1;
    Tensor *y = op_linear(x, w, b);
    ASSERT_NEAR(tensor_f32(y)[299 * 257 + 256] - tensor_f32(b)[256],
                tensor_f32(op_linear(x, w, NULL))[299 * 257 + 256], 1e-5);
    Tensor *up = tensor_random_uniform(SHAPE(300, 257), -1, 1, 7);
    autograd_backward_with(y, tensor_f32(up));
    for (int64_t j = 0; j < 257; j += 64) {
        double s = 0.0;
        for (int64_t r = 0; r < 300; r++) s += tensor_f32(up)[r * 257 + j];
        ASSERT_NEAR(((float *)b->grad)[j], s, 1e-4);
    }
}

/* Backward adds into existing gradients: a second forward + backward on the
 * same inputs doubles them (STYLE.md "Backward accumulates"). */
static int check_accumulates(GradCheckFn fn, Tensor **in, int n, void *ctx) {
    Tensor *out = fn(in, ctx);
    Tensor *up = tensor_random_uniform(out->ndim, out->shape, -1, 1, 99);
    for (int k = 0; k < n; k++) in[k]->grad = NULL;
    autograd_backward_with(out, tensor_f32(up));
    float *first[4];
    for (int k = 0; k < n; k++) {
        int64_t m = tensor_numel(in[k]);
        first[k] = tensor_f32(tensor_new(DTYPE_F32, 1, &m));
        for (int64_t e = 0; e < m; e++) first[k][e] = ((float *)in[k]->grad)[e];
    }
    tape_clear();
    autograd_backward_with(fn(in, ctx), tensor_f32(up));
    for (int k = 0; k < n; k++) {
        int64_t m = tensor_numel(in[k]);
        for (int64_t e = 0; e < m; e++) {
            double got = ((float *)in[k]->grad)[e], want = 2.0 * first[k][e];
            if (!(fabs(got - want) <= 1e-6 + 1e-5 * fabs(want)))
                return error_set("input %d element %lld: %g after two backwards, %g expected", k, (long long)e,
                                 got, want);
        }
    }
    return 0;
}

TEST(test_matmul_and_linear_gradients_accumulate_over_two_backward_calls) {
    Tensor *in[3];
    make_matmul_inputs(&matmul_cases[13], in); /* shared B, both transposed */
    ASSERT_MSG(check_accumulates(apply_matmul, in, 2, (void *)&matmul_cases[13]) == 0, "%s", error_message());
    tape_clear();
    in[0] = tensor_random_uniform(SHAPE(3, 5), -1, 1, 1);
    in[1] = tensor_random_uniform(SHAPE(4, 5), -1, 1, 2);
    in[2] = tensor_random_uniform(SHAPE(4), -1, 1, 3);
    for (int k = 0; k < 3; k++) in[k]->requires_grad = 1;
    ASSERT_MSG(check_accumulates(apply_linear, in, 3, (void *)1) == 0, "%s", error_message());
}
