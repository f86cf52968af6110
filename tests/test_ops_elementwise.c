/* Elementwise ops: add, sub, mul over each broadcast case of ops.h (same
 * shape, one element, trailing dims), scale, add_scalar, bias_add; forward
 * against direct loops, backward by finite differences. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

typedef Tensor *(*BinaryOp)(Tensor *, Tensor *);

static Tensor *apply_binary(Tensor **in, void *ctx) { return ((BinaryOp)ctx)(in[0], in[1]); }

/* a is [3, 5, 7]; b takes each allowed broadcast shape. */
typedef struct {
    int ndim;
    int64_t shape[3];
} Shape;
static const Shape b_shapes[] = {
    {3, {3, 5, 7}}, /* same shape */
    {1, {1}},       /* one element */
    {0, {0}},       /* a 0-d scalar tensor */
    {1, {7}},       /* trailing dim: a bias */
    {2, {5, 7}},    /* trailing dims: a position table */
};
#define N_B_SHAPES ((int)(sizeof b_shapes / sizeof b_shapes[0]))

static int check_binary(BinaryOp op, double (*ref)(double, double)) {
    for (int s = 0; s < N_B_SHAPES; s++) {
        Tensor *in[2] = {tensor_random_uniform(SHAPE(3, 5, 7), -2, 2, 1),
                         tensor_random_uniform(b_shapes[s].ndim, b_shapes[s].shape, -2, 2, 2)};
        in[0]->requires_grad = in[1]->requires_grad = 1;
        Tensor *y = op(in[0], in[1]);
        if (!tensor_same_shape(y, in[0])) return error_set("b shape %d: output shape differs from a", s);
        int64_t n = tensor_numel(in[0]), nb = tensor_numel(in[1]);
        for (int64_t k = 0; k < n; k++) {
            double want = ref(tensor_f32(in[0])[k], tensor_f32(in[1])[k % nb]);
            if (fabs(tensor_f32(y)[k] - want) > 1e-6)
                return error_set("b shape %d forward element %lld: %g vs %g", s, (long long)k, tensor_f32(y)[k],
                                 want);
        }
        if (gradcheck(apply_binary, in, 2, (void *)op, gradcheck_defaults()) != 0)
            return error_prefix("b shape %d: ", s);
    }
    return 0;
}

static double add_ref(double a, double b) { return a + b; }
static double sub_ref(double a, double b) { return a - b; }
static double mul_ref(double a, double b) { return a * b; }

TEST(test_add_forward_and_gradient_each_broadcast) {
    ASSERT_MSG(check_binary(op_add, add_ref) == 0, "%s", error_message());
}

TEST(test_sub_forward_and_gradient_each_broadcast) {
    ASSERT_MSG(check_binary(op_sub, sub_ref) == 0, "%s", error_message());
}

TEST(test_mul_forward_and_gradient_each_broadcast) {
    ASSERT_MSG(check_binary(op_mul, mul_ref) == 0, "%s", error_message());
}

/* The same tensor on both sides receives both contributions: d(x·x) = 2x, d(x - x) = 0. */
TEST(test_binary_ops_with_the_same_tensor_twice_sum_both_gradients) {
    Tensor *x = tensor_random_uniform(SHAPE(4, 3), -1, 1, 5);
    x->requires_grad = 1;
    Tensor *ones = tensor_random_uniform(SHAPE(4, 3), 1, 1, 0);
    autograd_backward_with(op_mul(x, x), tensor_f32(ones));
    for (int k = 0; k < 12; k++) ASSERT_NEAR(((float *)x->grad)[k], 2.0 * tensor_f32(x)[k], 1e-6);
    tape_clear();
    x->grad = NULL;
    autograd_backward_with(op_sub(x, x), tensor_f32(ones));
    for (int k = 0; k < 12; k++) ASSERT_NEAR(((float *)x->grad)[k], 0.0, 0.0);
}

/* Sizes past the threading threshold (65536 elements): the broadcast
 * gradient of b is the sum over a's rows, computed by split columns. */
TEST(test_broadcast_gradient_sums_rows_at_threaded_size) {
    Tensor *a = tensor_random_uniform(SHAPE(600, 130), -1, 1, 1);
    Tensor *b = tensor_random_uniform(SHAPE(130), -1, 1, 2);
    Tensor *s = tensor_random_uniform(SHAPE(1), -1, 1, 3);
    a->requires_grad = b->requires_grad = s->requires_grad = 1;
    Tensor *y = op_mul(op_add(a, b), s);
    Tensor *up = tensor_random_uniform(SHAPE(600, 130), -1, 1, 4);
    autograd_backward_with(y, tensor_f32(up));
    float sv = tensor_f32(s)[0];
    double ds = 0.0;
    for (int64_t j = 0; j < 130; j++) {
        double db = 0.0;
        for (int64_t r = 0; r < 600; r++) {
            db += (double)tensor_f32(up)[r * 130 + j] * sv;
            ds += (double)tensor_f32(up)[r * 130 + j] * (tensor_f32(a)[r * 130 + j] + tensor_f32(b)[j]);
        }
        ASSERT_NEAR(((float *)b->grad)[j], db, 1e-4);
    }
    ASSERT_NEAR(((float *)s->grad)[0], ds, 1e-3);
    ASSERT_NEAR(((float *)a->grad)[599 * 130 + 129], tensor_f32(up)[599 * 130 + 129] * sv, 1e-6);
}

static Tensor *apply_scale(Tensor **in, void *ctx) { return op_scale(in[0], *(float *)ctx); }
static Tensor *apply_add_scalar(Tensor **in, void *ctx) { return op_add_scalar(in[0], *(float *)ctx); }
static Tensor *apply_bias_add(Tensor **in, void *ctx) {
    (void)ctx;
    return op_bias_add(in[0], in[1]);
}

TEST(test_scale_and_add_scalar_forward_and_gradient) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 5, 7), -2, 2, 1);
    x->requires_grad = 1;
    float s = -1.75f;
    Tensor *ys = op_scale(x, s), *ya = op_add_scalar(x, s);
    for (int64_t k = 0; k < tensor_numel(x); k++) {
        ASSERT_NEAR(tensor_f32(ys)[k], tensor_f32(x)[k] * -1.75, 1e-6);
        ASSERT_NEAR(tensor_f32(ya)[k], tensor_f32(x)[k] - 1.75, 1e-6);
    }
    ASSERT_MSG(gradcheck(apply_scale, &x, 1, &s, gradcheck_defaults()) == 0, "%s", error_message());
    ASSERT_MSG(gradcheck(apply_add_scalar, &x, 1, &s, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_bias_add_forward_and_gradient) {
    Tensor *in[2] = {tensor_random_uniform(SHAPE(3, 5, 7), -2, 2, 1), tensor_random_uniform(SHAPE(7), -2, 2, 2)};
    in[0]->requires_grad = in[1]->requires_grad = 1;
    Tensor *y = op_bias_add(in[0], in[1]);
    for (int64_t k = 0; k < tensor_numel(y); k++)
        ASSERT_NEAR(tensor_f32(y)[k], tensor_f32(in[0])[k] + tensor_f32(in[1])[k % 7], 1e-6);
    ASSERT_MSG(gradcheck(apply_bias_add, in, 2, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_elementwise_gradients_accumulate_over_two_backward_calls) {
    Tensor *a = tensor_random_uniform(SHAPE(3, 5, 7), -2, 2, 1);
    Tensor *b = tensor_random_uniform(SHAPE(5, 7), -2, 2, 2);
    a->requires_grad = b->requires_grad = 1;
    Tensor *up = tensor_random_uniform(SHAPE(3, 5, 7), -1, 1, 3);
    autograd_backward_with(op_mul(a, b), tensor_f32(up));
    float ga[105], gb[35];
    for (int k = 0; k < 105; k++) ga[k] = ((float *)a->grad)[k];
    for (int k = 0; k < 35; k++) gb[k] = ((float *)b->grad)[k];
    tape_clear();
    autograd_backward_with(op_mul(a, b), tensor_f32(up));
    for (int k = 0; k < 105; k++) ASSERT_NEAR(((float *)a->grad)[k], 2.0 * ga[k], 1e-6);
    for (int k = 0; k < 35; k++) ASSERT_NEAR(((float *)b->grad)[k], 2.0 * gb[k], 1e-5);
}

/* Same-shape mul past the threading threshold: the flat loops, forward and both gradients. */
TEST(test_same_shape_mul_at_threaded_size) {
    Tensor *a = tensor_random_uniform(SHAPE(600, 130), -1, 1, 21);
    Tensor *b = tensor_random_uniform(SHAPE(600, 130), -1, 1, 22);
    a->requires_grad = b->requires_grad = 1;
    Tensor *y = op_mul(a, b);
    Tensor *up = tensor_random_uniform(SHAPE(600, 130), -1, 1, 23);
    autograd_backward_with(y, tensor_f32(up));
    for (int64_t k = 0; k < 600 * 130; k += 997) {
        ASSERT_NEAR(tensor_f32(y)[k], (double)tensor_f32(a)[k] * tensor_f32(b)[k], 1e-6);
        ASSERT_NEAR(((float *)a->grad)[k], (double)tensor_f32(up)[k] * tensor_f32(b)[k], 1e-6);
        ASSERT_NEAR(((float *)b->grad)[k], (double)tensor_f32(up)[k] * tensor_f32(a)[k], 1e-6);
    }
}
