/* CUDA parity of the activations (forward and backward) at shapes that are
 * and are not multiples of the kernels' block sizes. Skips without a GPU. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef Tensor *(*UnaryOp)(Tensor *);

static Tensor *apply_unary(Tensor **in, void *ctx) { return ((UnaryOp)ctx)(in[0]); }

static const int64_t SHAPES[][3] = {{1, 1, 1}, {3, 7, 1}, {257, 129, 1}, {4, 35, 768}};

static int check_all_shapes(const char *name, UnaryOp op) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        Tensor *x = tensor_random_uniform(SHAPE(SHAPES[s][0], SHAPES[s][1], SHAPES[s][2]), -4.0f, 4.0f, 30 + s);
        x->requires_grad = 1;
        if (cuda_parity_check(name, apply_unary, &x, 1, (void *)op, PARITY_TOL_FP32) != 0) return -1;
    }
    return 0;
}

TEST(test_cuda_gelu_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("gelu", op_gelu) == 0, "%s", error_message());
}

TEST(test_cuda_relu_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("relu", op_relu) == 0, "%s", error_message());
}

TEST(test_cuda_tanh_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("tanh", op_tanh) == 0, "%s", error_message());
}

TEST(test_cuda_sigmoid_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("sigmoid", op_sigmoid) == 0, "%s", error_message());
}
