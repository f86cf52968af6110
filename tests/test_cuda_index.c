/* CUDA parity of the indexing ops (cuda/shape.cu): embedding, index_select and
 * gather, forward and the scatter-add backward, with repeated indices (the
 * backward's adds must land in the CPU's order, bit for bit deterministic),
 * in both of the backward's modes (fewer indices than rows, and more), and
 * with indices handed over from the host. Skips without a GPU. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

/* An i32 tensor with index k = (k·stride + offset) mod range: repeats
 * whenever numel > range or stride shares a factor with range. */
static Tensor *index_tensor(int ndim, const int64_t *shape, int64_t stride, int64_t offset, int64_t range) {
    Tensor *t = tensor_new(DTYPE_I32, ndim, shape);
    int32_t *v = tensor_i32(t);
    for (int64_t k = 0; k < tensor_numel(t); k++) v[k] = (int32_t)((k * stride + offset) % range);
    return t;
}

static Tensor *apply_embedding(Tensor **in, void *ctx) {
    (void)ctx;
    return op_embedding(in[0], in[1]);
}

/* The same with the ids on the host while the table is on the device: the op
 * uploads them (the data layer's ids start on the host). */
static Tensor *apply_embedding_host_ids(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *ids = in[1];
    if (ids->device != DEVICE_CPU) {
        Tensor *host = tensor_new(DTYPE_I32, ids->ndim, ids->shape);
        tensor_copy_to_host(ids, host->data);
        ids = host;
    }
    return op_embedding(in[0], ids);
}

/* ids (k·stride + 3) mod V, with every pad_every-th id set to 0 (padding). */
static int check_embedding(int64_t V, int64_t D, int64_t B, int64_t T, int64_t stride, int64_t pad_every, ParityFn fn,
                           uint64_t seed) {
    Tensor *in[2];
    in[0] = tensor_random_uniform(SHAPE(V, D), -1.0f, 1.0f, seed);
    in[0]->requires_grad = 1;
    in[1] = index_tensor(SHAPE(B, T), stride, 3, V);
    for (int64_t k = 0; k < B * T; k += pad_every) tensor_i32(in[1])[k] = 0;
    return cuda_parity_check("embedding", fn, in, 2, NULL, PARITY_TOL_FP32);
}

TEST(test_cuda_embedding_repeated_ids_parity) {
    if (!cuda_parity_ready()) return;
    /* Fewer ids than rows, each id used three times or more. */
    ASSERT_MSG(check_embedding(50, 37, 3, 7, 5, 4, apply_embedding, 700) == 0, "%s", error_message());
    /* More ids than rows (the position-id case): every row gets many. */
    ASSERT_MSG(check_embedding(5, 33, 4, 16, 3, 7, apply_embedding, 701) == 0, "%s", error_message());
    /* One id, one row. */
    ASSERT_MSG(check_embedding(1, 1, 1, 1, 1, 1, apply_embedding, 702) == 0, "%s", error_message());
    /* BERT's vocabulary and width over a batch of 32 captions of 35 tokens,
     * distinct ids but for the padding id 0 on every 5th token. */
    ASSERT_MSG(check_embedding(30522, 768, 32, 35, 1009, 5, apply_embedding, 703) == 0, "%s", error_message());
    ASSERT_MSG(check_embedding(50, 37, 3, 7, 5, 4, apply_embedding_host_ids, 704) == 0, "%s", error_message());
}

static Tensor *apply_index_select(Tensor **in, void *ctx) { return op_index_select(in[0], *(int *)ctx, in[1]); }

TEST(test_cuda_index_select_dims_0_and_1_with_repeats_parity) {
    if (!cuda_parity_ready()) return;
    const int64_t shape[3] = {6, 9, 5};
    /* m < n (each destination row found from its first index) and m > n
     * (every row scans all indices), both with repeats. */
    const int64_t lengths[2] = {4, 13};
    for (int dim = 0; dim < 2; dim++)
        for (int c = 0; c < 2; c++) {
            Tensor *in[2];
            in[0] = tensor_random_uniform(3, shape, -1.0f, 1.0f, 800 + (uint64_t)(2 * dim + c));
            in[0]->requires_grad = 1;
            /* stride 2 into an odd range hits some rows twice, others never. */
            int64_t range = c == 0 ? 3 : shape[dim];
            in[1] = index_tensor(SHAPE(lengths[c]), 2, 1, range);
            ASSERT_MSG(cuda_parity_check("index_select", apply_index_select, in, 2, &dim, PARITY_TOL_FP32) == 0,
                       "%s", error_message());
        }
    /* ViT's class token: one row [1, 768] selected for each of 33 images. */
    int dim = 0;
    Tensor *in[2];
    in[0] = tensor_random_uniform(SHAPE(1, 768), -1.0f, 1.0f, 810);
    in[0]->requires_grad = 1;
    in[1] = index_tensor(SHAPE(33), 0, 0, 1);
    ASSERT_MSG(cuda_parity_check("index_select cls", apply_index_select, in, 2, &dim, PARITY_TOL_FP32) == 0, "%s",
               error_message());
    /* The last dim (inner = 1). */
    dim = 2;
    in[0] = tensor_random_uniform(SHAPE(4, 3, 11), -1.0f, 1.0f, 811);
    in[0]->requires_grad = 1;
    in[1] = index_tensor(SHAPE(7), 4, 2, 11);
    ASSERT_MSG(cuda_parity_check("index_select last dim", apply_index_select, in, 2, &dim, PARITY_TOL_FP32) == 0,
               "%s", error_message());
}

static Tensor *apply_gather(Tensor **in, void *ctx) { return op_gather(in[0], *(int *)ctx, in[1]); }

TEST(test_cuda_gather_each_dim_with_repeats_parity) {
    if (!cuda_parity_ready()) return;
    const int64_t x_shape[3] = {4, 7, 5};
    for (int dim = 0; dim < 3; dim++) {
        /* idx matches x outside dim and is longer than x along it (repeats). */
        int64_t idx_shape[3] = {4, 7, 5};
        idx_shape[dim] = 2 * x_shape[dim] + 1;
        Tensor *in[2];
        in[0] = tensor_random_uniform(3, x_shape, -1.0f, 1.0f, 900 + (uint64_t)dim);
        in[0]->requires_grad = 1;
        in[1] = index_tensor(3, idx_shape, 3, 1, x_shape[dim]);
        ASSERT_MSG(cuda_parity_check("gather", apply_gather, in, 2, &dim, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
    /* The target-logit pick: logits [33, 10], one index per row. */
    int dim = 1;
    Tensor *in[2];
    in[0] = tensor_random_uniform(SHAPE(33, 10), -1.0f, 1.0f, 910);
    in[0]->requires_grad = 1;
    in[1] = index_tensor(SHAPE(33, 1), 7, 0, 10);
    ASSERT_MSG(cuda_parity_check("gather logits", apply_gather, in, 2, &dim, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}
