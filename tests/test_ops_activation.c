/* Activations: forward against the textbook formula, backward by finite differences. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/test.h"

typedef Tensor *(*UnaryOp)(Tensor *);

static Tensor *apply_unary(Tensor **in, void *ctx) { return ((UnaryOp)ctx)(in[0]); }

static int check_unary(UnaryOp op, double (*reference)(double)) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 7), -3.0f, 3.0f, 11);
    x->requires_grad = 1;
    Tensor *y = op(x);
    for (int64_t k = 0; k < tensor_numel(x); k++) {
        double want = reference(tensor_f32(x)[k]);
        if (fabs(tensor_f32(y)[k] - want) > 1e-6 + 1e-5 * fabs(want))
            return error_set("forward element %lld: %g vs %g", (long long)k, tensor_f32(y)[k], want);
    }
    return gradcheck(apply_unary, &x, 1, (void *)op, gradcheck_defaults());
}

static double gelu_ref(double v) { return 0.5 * v * (1.0 + erf(v / sqrt(2.0))); }
static double relu_ref(double v) { return v > 0 ? v : 0; }
static double sigmoid_ref(double v) { return 1.0 / (1.0 + exp(-v)); }

TEST(test_gelu_matches_erf_form_and_gradient) {
    ASSERT_MSG(check_unary(op_gelu, gelu_ref) == 0, "%s", error_message());
}

TEST(test_relu_forward_and_gradient) {
    ASSERT_MSG(check_unary(op_relu, relu_ref) == 0, "%s", error_message());
}

TEST(test_tanh_forward_and_gradient) {
    ASSERT_MSG(check_unary(op_tanh, tanh) == 0, "%s", error_message());
}

TEST(test_sigmoid_forward_and_gradient) {
    ASSERT_MSG(check_unary(op_sigmoid, sigmoid_ref) == 0, "%s", error_message());
}
