/* Losses and similarities against direct double-precision formulas, and by
 * finite differences. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

static Tensor *i32_tensor(int ndim, const int64_t *shape, const int32_t *values) {
    Tensor *t = tensor_new(DTYPE_I32, ndim, shape);
    memcpy(t->data, values, tensor_nbytes(t));
    return t;
}

static double logsumexp_row(const float *x, int n) {
    double m = x[0], s = 0.0;
    for (int c = 1; c < n; c++) m = x[c] > m ? x[c] : m;
    for (int c = 0; c < n; c++) s += exp(x[c] - m);
    return m + log(s);
}

static Tensor *apply_mse(Tensor **in, void *ctx) {
    (void)ctx;
    return op_mse(in[0], in[1]);
}

TEST(test_mse_is_mean_squared_difference) {
    Tensor *in[2] = {tensor_random_uniform(SHAPE(3, 5), -2.0f, 2.0f, 71), tensor_random_uniform(SHAPE(3, 5), -2.0f, 2.0f, 72)};
    in[0]->requires_grad = in[1]->requires_grad = 1;
    double s = 0.0;
    for (int k = 0; k < 15; k++) {
        double d = (double)tensor_f32(in[0])[k] - tensor_f32(in[1])[k];
        s += d * d;
    }
    ASSERT_NEAR(tensor_f32(op_mse(in[0], in[1]))[0], s / 15.0, 1e-6);
    tape_clear();
    ASSERT_MSG(gradcheck(apply_mse, in, 2, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

static Tensor *apply_ce(Tensor **in, void *ctx) { return op_cross_entropy(in[0], ctx); }

TEST(test_cross_entropy_averages_non_ignored_rows) {
    const int32_t t[] = {2, -100, 6, 0, 2};
    Tensor *logits = tensor_random_uniform(SHAPE(5, 7), -4.0f, 4.0f, 73);
    logits->requires_grad = 1;
    Tensor *targets = i32_tensor(SHAPE(5), t);
    double want = 0.0;
    for (int r = 0; r < 5; r++)
        if (t[r] != -100) want += logsumexp_row(tensor_f32(logits) + r * 7, 7) - tensor_f32(logits)[r * 7 + t[r]];
    want /= 4.0; /* four rows count, not five */
    Tensor *loss = op_cross_entropy(logits, targets);
    ASSERT_NEAR(tensor_f32(loss)[0], want, 1e-5);
    autograd_backward(loss);
    for (int c = 0; c < 7; c++) ASSERT(((float *)logits->grad)[7 + c] == 0.0f); /* the ignored row */
    double row0 = 0.0;
    for (int c = 0; c < 7; c++) row0 += ((float *)logits->grad)[c];
    ASSERT_NEAR(row0, 0.0, 1e-6); /* softmax - onehot sums to zero */
    tape_clear();
    ASSERT_MSG(gradcheck(apply_ce, &logits, 1, targets, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_cross_entropy_all_rows_ignored_gives_zero_loss_and_gradient) {
    Tensor *logits = tensor_random_uniform(SHAPE(3, 4), -1.0f, 1.0f, 74);
    logits->requires_grad = 1;
    Tensor *loss = op_cross_entropy(logits, i32_tensor(SHAPE(3), (const int32_t[]){-100, -100, -100}));
    ASSERT(tensor_f32(loss)[0] == 0.0f);
    autograd_backward(loss);
    for (int k = 0; k < 12; k++) ASSERT(logits->grad == NULL || ((float *)logits->grad)[k] == 0.0f);
}

TEST(test_cross_entropy_stable_for_large_logits) {
    /* ITC logits reach sim / 0.001; a naive exp would overflow. */
    Tensor *logits = tensor_from_f32(SHAPE(1, 3), (const float[]){1000.0f, 990.0f, -1000.0f});
    Tensor *loss = op_cross_entropy(logits, i32_tensor(SHAPE(1), (const int32_t[]){1}));
    ASSERT_NEAR(tensor_f32(loss)[0], 10.0 + log1p(exp(-10.0)), 1e-4);
}

static Tensor *apply_soft_ce(Tensor **in, void *ctx) { return op_soft_cross_entropy(in[0], ctx); }

TEST(test_soft_cross_entropy_matches_formula_and_gradient) {
    Tensor *logits = tensor_random_uniform(SHAPE(4, 6), -3.0f, 3.0f, 75);
    logits->requires_grad = 1;
    Tensor *q = tensor_random_uniform(SHAPE(4, 6), 0.0f, 1.0f, 76);
    /* Rows 0..2 are distributions; row 3 sums to 2 (the gradient must stay exact). */
    for (int r = 0; r < 4; r++) {
        double s = 0.0;
        for (int c = 0; c < 6; c++) s += tensor_f32(q)[r * 6 + c];
        for (int c = 0; c < 6; c++) tensor_f32(q)[r * 6 + c] *= (float)((r == 3 ? 2.0 : 1.0) / s);
    }
    q->requires_grad = 1; /* a constant to the op even if it requires grad elsewhere */
    double want = 0.0;
    for (int r = 0; r < 4; r++) {
        double lse = logsumexp_row(tensor_f32(logits) + r * 6, 6);
        for (int c = 0; c < 6; c++) want -= tensor_f32(q)[r * 6 + c] * (tensor_f32(logits)[r * 6 + c] - lse);
    }
    Tensor *loss = op_soft_cross_entropy(logits, q);
    ASSERT_NEAR(tensor_f32(loss)[0], want / 4.0, 1e-5);
    autograd_backward(loss);
    ASSERT(q->grad == NULL);
    tape_clear();
    q->requires_grad = 0;
    ASSERT_MSG(gradcheck(apply_soft_ce, &logits, 1, q, gradcheck_defaults()) == 0, "%s", error_message());
}

static Tensor *apply_cos(Tensor **in, void *ctx) {
    (void)ctx;
    return op_cosine_similarity_matrix(in[0], in[1], 1e-8f);
}

TEST(test_cosine_similarity_matrix_all_pairs_and_gradient) {
    Tensor *in[2] = {tensor_random_uniform(SHAPE(4, 6), -1.0f, 1.0f, 77), tensor_random_uniform(SHAPE(3, 6), -1.0f, 1.0f, 78)};
    in[0]->requires_grad = in[1]->requires_grad = 1;
    Tensor *s = op_cosine_similarity_matrix(in[0], in[1], 1e-8f);
    ASSERT_EQ_INT(s->shape[0], 4);
    ASSERT_EQ_INT(s->shape[1], 3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            const float *a = tensor_f32(in[0]) + i * 6, *b = tensor_f32(in[1]) + j * 6;
            double dot = 0, na = 0, nb = 0;
            for (int d = 0; d < 6; d++) {
                dot += (double)a[d] * b[d];
                na += (double)a[d] * a[d];
                nb += (double)b[d] * b[d];
            }
            ASSERT_NEAR(tensor_f32(s)[i * 3 + j], dot / sqrt(na * nb), 1e-6);
        }
    tape_clear();
    ASSERT_MSG(gradcheck(apply_cos, in, 2, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

static Tensor *apply_cos_big_eps(Tensor **in, void *ctx) {
    (void)ctx;
    return op_cosine_similarity_matrix(in[0], in[1], 5.0f);
}

TEST(test_cosine_similarity_matrix_clamps_small_norms_at_eps) {
    /* Row 1 of a is zero: its similarities are 0, not NaN. With eps = 5 every
     * norm here (< √6·1) is clamped, so S = a bᵀ / 25 and the gradient is linear. */
    Tensor *a = tensor_random_uniform(SHAPE(2, 6), -1.0f, 1.0f, 79);
    Tensor *b = tensor_random_uniform(SHAPE(3, 6), -1.0f, 1.0f, 80);
    for (int d = 0; d < 6; d++) tensor_f32(a)[6 + d] = 0.0f;
    Tensor *s = op_cosine_similarity_matrix(a, b, 1e-8f);
    for (int j = 0; j < 3; j++) ASSERT(tensor_f32(s)[3 + j] == 0.0f);
    Tensor *t = op_cosine_similarity_matrix(a, b, 5.0f);
    for (int j = 0; j < 3; j++) {
        double dot = 0;
        for (int d = 0; d < 6; d++) dot += (double)tensor_f32(a)[d] * tensor_f32(b)[j * 6 + d];
        ASSERT_NEAR(tensor_f32(t)[j], dot / 25.0, 1e-6);
    }
    Tensor *in[2] = {a, b};
    a->requires_grad = b->requires_grad = 1;
    tape_clear();
    ASSERT_MSG(gradcheck(apply_cos_big_eps, in, 2, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}
