/* CUDA parity of the elementwise ops (cuda/elementwise.cu), forward and
 * backward: add, sub and mul under each broadcast of ops.h (same shape, one
 * element, trailing dims), with both or only one operand needing a gradient;
 * scale, add_scalar and bias_add; sizes that are and are not multiples of the
 * kernels' block sizes. Skips without a GPU. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef Tensor *(*BinaryFn)(Tensor *, Tensor *);

static Tensor *apply_binary(Tensor **in, void *ctx) { return ((BinaryFn)ctx)(in[0], in[1]); }

/* a's shapes, each with the broadcasts of b that fit it. */
typedef struct {
    int a_ndim;
    int64_t a_shape[3];
    int b_ndim;
    int64_t b_shape[3];
} Case;

static const Case CASES[] = {
    {1, {1}, 1, {1}},                      /* one element on both sides */
    {2, {3, 7}, 2, {3, 7}},                /* same shape */
    {2, {3, 7}, 1, {1}},                   /* one element */
    {2, {3, 7}, 1, {7}},                   /* trailing dim */
    {3, {257, 129, 3}, 3, {257, 129, 3}},
    {3, {257, 129, 3}, 1, {1}},
    {3, {257, 129, 3}, 2, {129, 3}},
    {3, {257, 129, 3}, 1, {3}},
    {3, {4, 35, 768}, 3, {4, 35, 768}},
    {3, {4, 35, 768}, 1, {1}},
    {3, {4, 35, 768}, 2, {35, 768}},
    {3, {4, 35, 768}, 1, {768}},
};

/* grads: bit 0 a needs a gradient, bit 1 b does. */
static int check_binary(const char *name, BinaryFn fn, int grads) {
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        Tensor *in[2] = {tensor_random_uniform(CASES[c].a_ndim, CASES[c].a_shape, -2.0f, 2.0f, 100 + c),
                         tensor_random_uniform(CASES[c].b_ndim, CASES[c].b_shape, -2.0f, 2.0f, 200 + c)};
        in[0]->requires_grad = grads & 1;
        in[1]->requires_grad = (grads >> 1) & 1;
        char what[96];
        snprintf(what, sizeof what, "%s case %zu (grads %d)", name, c, grads);
        if (cuda_parity_check(what, apply_binary, in, 2, (void *)fn, PARITY_TOL_FP32) != 0) return -1;
    }
    return 0;
}

static int check_binary_all_grads(const char *name, BinaryFn fn) {
    for (int grads = 1; grads <= 3; grads++)
        if (check_binary(name, fn, grads) != 0) return -1;
    return 0;
}

TEST(test_cuda_add_every_broadcast_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_binary_all_grads("add", op_add) == 0, "%s", error_message());
}

TEST(test_cuda_sub_every_broadcast_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_binary_all_grads("sub", op_sub) == 0, "%s", error_message());
}

TEST(test_cuda_mul_every_broadcast_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_binary_all_grads("mul", op_mul) == 0, "%s", error_message());
}

TEST(test_cuda_bias_add_parity) {
    if (!cuda_parity_ready()) return;
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {4, 35, 768}, {2, 577, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        Tensor *in[2] = {tensor_random_uniform(SHAPE(shapes[s][0], shapes[s][1], shapes[s][2]), -2.0f, 2.0f, 300 + s),
                         tensor_random_uniform(SHAPE(shapes[s][2]), -2.0f, 2.0f, 400 + s)};
        in[0]->requires_grad = 1;
        in[1]->requires_grad = 1;
        ASSERT_MSG(cuda_parity_check("bias_add", apply_binary, in, 2, (void *)op_bias_add, PARITY_TOL_FP32) == 0,
                   "%s", error_message());
    }
}

typedef struct {
    Tensor *(*fn)(Tensor *, float);
    float s;
} ScalarOp;

static Tensor *apply_scalar(Tensor **in, void *ctx) {
    const ScalarOp *op = ctx;
    return op->fn(in[0], op->s);
}

static int check_scalar(const char *name, Tensor *(*fn)(Tensor *, float)) {
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 1}, {257, 129, 3}, {4, 35, 768}};
    const float values[] = {0.0f, -1.5f, 0.125f, 3.0e4f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            Tensor *x = tensor_random_uniform(SHAPE(shapes[s][0], shapes[s][1], shapes[s][2]), -2.0f, 2.0f, 500 + s);
            x->requires_grad = 1;
            ScalarOp op = {fn, values[v]};
            char what[64];
            snprintf(what, sizeof what, "%s by %g, shape %zu", name, (double)values[v], s);
            if (cuda_parity_check(what, apply_scalar, &x, 1, &op, PARITY_TOL_FP32) != 0) return -1;
        }
    return 0;
}

TEST(test_cuda_scale_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_scalar("scale", op_scale) == 0, "%s", error_message());
}

TEST(test_cuda_add_scalar_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_scalar("add_scalar", op_add_scalar) == 0, "%s", error_message());
}

/* A chain of the ops (x·w + b − x, scaled, shifted), so gradients from
 * several uses of one tensor add up on the device as on the CPU. */
static Tensor *apply_chain(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *h = op_bias_add(op_mul(in[0], in[1]), in[2]);
    return op_add_scalar(op_scale(op_sub(h, in[0]), 0.5f), 1.0f);
}

TEST(test_cuda_elementwise_chain_parity) {
    if (!cuda_parity_ready()) return;
    Tensor *in[3] = {tensor_random_uniform(SHAPE(5, 33, 65), -2.0f, 2.0f, 600),
                     tensor_random_uniform(SHAPE(33, 65), -2.0f, 2.0f, 601),
                     tensor_random_uniform(SHAPE(65), -2.0f, 2.0f, 602)};
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("elementwise chain", apply_chain, in, 3, NULL, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}

/* One tensor on both sides: both gradients land in one buffer, in the CPU's order. */
static Tensor *apply_twice(Tensor **in, void *ctx) { return ((BinaryFn)ctx)(in[0], in[0]); }

TEST(test_cuda_binary_ops_with_the_same_tensor_twice_parity) {
    if (!cuda_parity_ready()) return;
    const BinaryFn fns[] = {op_add, op_sub, op_mul};
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        Tensor *x = tensor_random_uniform(SHAPE(3, 257), -2.0f, 2.0f, 700 + f);
        x->requires_grad = 1;
        ASSERT_MSG(cuda_parity_check("x op x", apply_twice, &x, 1, (void *)fns[f], PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
}

/* x / s with the scalar s on the device (cuda/div_scalar.cu): the output, x's
 * gradient and s's gradient −Σ g·x / s², which the kernels compute without
 * sending s to the host. */
static Tensor *apply_div_by_scalar(Tensor **in, void *ctx) {
    (void)ctx;
    return op_div_by_scalar(in[0], in[1]);
}

TEST(test_cuda_div_by_scalar_parity) {
    if (!cuda_parity_ready()) return;
    const int64_t rows[] = {1, 7, 257, 1000003}, cols[] = {1, 13, 129, 1};
    const float scales[] = {0.07f, -1.5f, 0.07f, 3.0f};
    for (size_t s = 0; s < sizeof rows / sizeof rows[0]; s++) {
        Tensor *in[2] = {tensor_random_uniform(SHAPE(rows[s], cols[s]), -2.0f, 2.0f, 800 + s),
                         tensor_from_f32(SHAPE(1), &scales[s])};
        in[0]->requires_grad = in[1]->requires_grad = 1;
        ASSERT_MSG(cuda_parity_check("div_by_scalar", apply_div_by_scalar, in, 2, NULL, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
}
