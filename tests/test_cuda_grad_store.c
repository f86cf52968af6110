/* A gradient's first writer stores into a buffer nobody zeroed
 * (tape_input_grad_to_overwrite; device_kernels.h "Conventions"). The parity
 * harness seeds its inputs' gradients, so there every backward adds; here
 * each store-capable backward writes an intermediate's gradient first (the
 * inputs pass through op_scale, whose output nobody else reads), into the
 * parity harness's NaN-poisoned gradient arena: an element a first writer
 * misses, or reads before writing, comes out NaN or wrong against the CPU.
 * Covered: GELU, add, sub, mul (elementwise and broadcast, and y = t + t,
 * where the first gradient is stored and the second added), the Linear's
 * products (dx and a non-parameter weight's dw), a batched matmul and one
 * with a B shared by the batch (its later calls add to the first), and the
 * fused add + LayerNorm reading the norm, the sum or both, and the fused
 * attention (f32 and tensor-core kernels). Skips without a GPU. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/rng.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

static Tensor *fresh(Tensor *x) { return op_scale(x, 1.0f); } /* an intermediate: its gradient starts unwritten */

/* in: x [6, 8], y [6, 8], bias [8], w [5, 8], b [5], c [2, 6, 8], s [6, 3]. */
static Tensor *apply_first_writers(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *x = fresh(in[0]), *y = fresh(in[1]), *t = fresh(in[0]);
    Tensor *parts[] = {
        op_gelu(fresh(in[0])),
        op_add(fresh(in[0]), fresh(in[1])),
        op_sub(fresh(in[1]), fresh(in[0])),
        op_mul(x, y),
        op_add(t, t),
        op_add(fresh(in[0]), fresh(in[2])), /* a broadcast bias: a column sum stored */
        op_mul(fresh(in[1]), fresh(in[2])),
        op_linear(fresh(in[0]), fresh(in[3]), in[4]),
        op_matmul(fresh(in[5]), fresh(in[5]), 0, 1),  /* [2, 6, 6]: A and B one tensor */
        op_matmul(fresh(in[5]), fresh(in[6]), 1, 0),  /* shared B with a transposed A: one dB call per batch */
        op_add_layernorm(fresh(in[0]), fresh(in[1]), NULL, NULL, 1e-5f, NULL),
    };
    Tensor *sum = NULL;
    Tensor *total = op_add_layernorm(fresh(in[0]), fresh(in[1]), NULL, NULL, 1e-5f, &sum);
    total = op_add(op_sum_all(total), op_sum_all(op_mul(sum, sum)));
    Tensor *only_sum = NULL;
    op_add_layernorm(fresh(in[1]), fresh(in[0]), NULL, NULL, 1e-5f, &only_sum); /* the norm unread */
    total = op_add(total, op_sum_all(op_mul(only_sum, only_sum)));
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++)
        total = op_add(total, op_sum_all(op_mul(parts[k], parts[k])));
    return total;
}

/* The fused attention's backward (cuda/attention.cu in f32, the tensor-core
 * kernels of cuda/attention_tc.cu in bf16): separate q, k, v; a packed qkv
 * (its three parts each written once); and q, k, v one tensor, which the op
 * leaves to zero-filled gradients. 2 heads of 16; in: x [2, 5, 32], y
 * [2, 4, 32], qkv [2, 5, 96]. */
static Tensor *apply_attention_first_writers(Tensor **in, void *ctx) {
    (void)ctx;
    const float scale = 0.25f;
    Tensor *x = fresh(in[0]);
    Tensor *parts[] = {
        op_attention_heads(fresh(in[0]), fresh(in[1]), fresh(in[1]), 2, NULL, scale, 0.0f, 1, 2, RNG_ROWS_ONE),
        op_attention_heads(fresh(in[2]), NULL, NULL, 2, NULL, scale, 0.0f, 1, 2, RNG_ROWS_ONE),
        op_attention_heads(x, x, x, 2, NULL, scale, 0.0f, 1, 2, RNG_ROWS_ONE),
    };
    Tensor *total = NULL;
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        Tensor *p = op_to_f32(parts[k]);
        Tensor *term = op_sum_all(op_mul(p, p));
        total = total ? op_add(total, term) : term;
    }
    return total;
}

/* Made anew for each check: a check resets the arena its inputs live in. */
static void attention_inputs(Tensor *in[3]) {
    in[0] = tensor_random_uniform(SHAPE(2, 5, 32), -1.0f, 1.0f, 11);
    in[1] = tensor_random_uniform(SHAPE(2, 4, 32), -1.0f, 1.0f, 12);
    in[2] = tensor_random_uniform(SHAPE(2, 5, 96), -1.0f, 1.0f, 13);
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
}

TEST(test_cuda_attention_gradients_first_written_into_unzeroed_buffers) {
    if (!cuda_parity_ready()) return;
    Tensor *in[3];
    attention_inputs(in);
    ASSERT_MSG(cuda_parity_check("attention, f32", apply_attention_first_writers, in, 3, NULL, PARITY_TOL_FP32) == 0,
               "%s", error_message());
    attention_inputs(in);
    ASSERT_MSG(cuda_parity_check_bf16("attention, bf16", apply_attention_first_writers, in, 3, NULL, PARITY_TOL_BF16,
                                      7u) == 0,
               "%s", error_message());
}

TEST(test_cuda_gradients_first_written_into_unzeroed_buffers) {
    if (!cuda_parity_ready()) return;
    Tensor *in[7] = {tensor_random_uniform(SHAPE(6, 8), -2.0f, 2.0f, 1), tensor_random_uniform(SHAPE(6, 8), -2.0f, 2.0f, 2),
                     tensor_random_uniform(SHAPE(8), -1.0f, 1.0f, 3),    tensor_random_uniform(SHAPE(5, 8), -1.0f, 1.0f, 4),
                     tensor_random_uniform(SHAPE(5), -1.0f, 1.0f, 5),    tensor_random_uniform(SHAPE(2, 6, 8), -1.0f, 1.0f, 6),
                     tensor_random_uniform(SHAPE(6, 3), -1.0f, 1.0f, 7)};
    for (int i = 0; i < 7; i++) in[i]->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("first writers", apply_first_writers, in, 7, NULL, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}

/* A backward with nothing to write, on an empty batch, must not leave a
 * first-written gradient it could not fill: the broadcast bias of an add and
 * the shared B of a matmul with a transposed A (no per-batch call) still get
 * their (zero) gradients. in: e [0, 8], bias [8], c [0, 6, 8], s [6, 3]. */
static Tensor *apply_empty_batch(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *added = op_add(fresh(in[0]), fresh(in[1]));
    Tensor *product = op_matmul(fresh(in[2]), fresh(in[3]), 1, 0);
    return op_add(op_sum_all(added), op_sum_all(product));
}

TEST(test_cuda_empty_batch_leaves_no_gradient_unwritten) {
    if (!cuda_parity_ready()) return;
    Tensor *in[4] = {tensor_random_uniform(SHAPE(0, 8), -1.0f, 1.0f, 21),
                     tensor_random_uniform(SHAPE(8), -1.0f, 1.0f, 22),
                     tensor_random_uniform(SHAPE(0, 6, 8), -1.0f, 1.0f, 23),
                     tensor_random_uniform(SHAPE(6, 3), -1.0f, 1.0f, 24)};
    for (int i = 0; i < 4; i++) in[i]->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("empty batch", apply_empty_batch, in, 4, NULL, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}
