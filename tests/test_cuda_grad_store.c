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
 * fused add + LayerNorm reading the norm, the sum or both. Skips without a
 * GPU. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
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
