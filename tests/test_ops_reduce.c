/* Reductions: sum / mean over one dim (negative dims, keepdim) and over all
 * elements, against a direct double-precision loop and by finite differences. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

typedef struct {
    int dim, keepdim, mean;
} ReduceCtx;

static Tensor *apply_reduce(Tensor **in, void *ctx) {
    ReduceCtx *c = ctx;
    return c->mean ? op_mean(in[0], c->dim, c->keepdim) : op_sum(in[0], c->dim, c->keepdim);
}

static int check_reduce(int ndim, const int64_t *shape, int dim, int keepdim, int mean) {
    Tensor *x = tensor_random_uniform(ndim, shape, -2.0f, 2.0f, 31);
    x->requires_grad = 1;
    ReduceCtx ctx = {dim, keepdim, mean};
    Tensor *y = apply_reduce(&x, &ctx);
    int d = dim < 0 ? dim + ndim : dim;
    if (y->ndim != (keepdim ? ndim : ndim - 1)) return error_set("reduce: %d dims out", y->ndim);
    if (keepdim && y->shape[d] != 1) return error_set("reduce: kept dim is %lld", (long long)y->shape[d]);
    int64_t outer = 1, inner = 1, n = shape[d];
    for (int e = 0; e < d; e++) outer *= shape[e];
    for (int e = d + 1; e < ndim; e++) inner *= shape[e];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < n; j++) s += tensor_f32(x)[(o * n + j) * inner + i];
            if (mean) s /= (double)n;
            float got = tensor_f32(y)[o * inner + i];
            if (fabs(got - s) > 1e-5) return error_set("reduce forward (%lld, %lld): %g vs %g", (long long)o, (long long)i, got, s);
        }
    tape_clear();
    return gradcheck(apply_reduce, &x, 1, &ctx, gradcheck_defaults());
}

TEST(test_sum_over_each_dim_with_and_without_keepdim) {
    ASSERT_MSG(check_reduce(SHAPE(3, 4, 5), 0, 0, 0) == 0, "%s", error_message());
    ASSERT_MSG(check_reduce(SHAPE(3, 4, 5), 1, 1, 0) == 0, "%s", error_message());
    ASSERT_MSG(check_reduce(SHAPE(3, 4, 5), -1, 0, 0) == 0, "%s", error_message());
    ASSERT_MSG(check_reduce(SHAPE(7), -1, 1, 0) == 0, "%s", error_message());
}

TEST(test_mean_over_each_dim_with_and_without_keepdim) {
    ASSERT_MSG(check_reduce(SHAPE(3, 4, 5), 0, 1, 1) == 0, "%s", error_message());
    ASSERT_MSG(check_reduce(SHAPE(3, 4, 5), -2, 0, 1) == 0, "%s", error_message());
    ASSERT_MSG(check_reduce(SHAPE(2, 3, 1, 5), 3, 1, 1) == 0, "%s", error_message());
}

TEST(test_mean_dim_shape_drops_or_keeps_the_dim) {
    Tensor *x = tensor_random_uniform(SHAPE(2, 3, 4), -1.0f, 1.0f, 1);
    Tensor *a = op_mean(x, -2, 0), *b = op_mean(x, -2, 1);
    ASSERT_EQ_INT(a->ndim, 2);
    ASSERT_EQ_INT(a->shape[0], 2);
    ASSERT_EQ_INT(a->shape[1], 4);
    ASSERT_EQ_INT(b->ndim, 3);
    ASSERT_EQ_INT(b->shape[1], 1);
    ASSERT_EQ_INT(b->shape[2], 4);
}

static Tensor *apply_sum_all(Tensor **in, void *ctx) { return ctx ? op_mean_all(in[0]) : op_sum_all(in[0]); }

TEST(test_sum_all_and_mean_all_are_scalars_with_uniform_gradient) {
    Tensor *x = tensor_random_uniform(SHAPE(7, 3), -2.0f, 2.0f, 41);
    x->requires_grad = 1;
    double s = 0.0;
    for (int k = 0; k < 21; k++) s += tensor_f32(x)[k];
    Tensor *sum = op_sum_all(x), *mean = op_mean_all(x);
    ASSERT_EQ_INT(tensor_numel(sum), 1);
    ASSERT_EQ_INT(sum->ndim, 0);
    ASSERT_NEAR(tensor_f32(sum)[0], s, 1e-5);
    ASSERT_NEAR(tensor_f32(mean)[0], s / 21.0, 1e-6);
    tape_clear();
    x->grad = NULL;
    autograd_backward(op_mean_all(x));
    for (int k = 0; k < 21; k++) ASSERT_NEAR(((float *)x->grad)[k], 1.0 / 21.0, 1e-8);
    tape_clear();
    ASSERT_MSG(gradcheck(apply_sum_all, &x, 1, NULL, gradcheck_defaults()) == 0, "%s", error_message());
    ASSERT_MSG(gradcheck(apply_sum_all, &x, 1, (void *)1, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_sum_all_large_input_parallel_path) {
    /* Over the OpenMP threshold: the reduction must still equal the serial sum. */
    Tensor *x = tensor_random_uniform(SHAPE(300, 401), -1.0f, 1.0f, 43);
    double s = 0.0;
    for (int64_t k = 0; k < 300 * 401; k++) s += tensor_f32(x)[k];
    ASSERT_NEAR(tensor_f32(op_sum_all(x))[0], s, 1e-3);
    Tensor *cols = op_sum(x, 0, 0);
    double c7 = 0.0;
    for (int r = 0; r < 300; r++) c7 += tensor_f32(x)[r * 401 + 7];
    ASSERT_NEAR(tensor_f32(cols)[7], c7, 1e-4);
}
