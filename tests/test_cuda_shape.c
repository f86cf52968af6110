/* CUDA parity of the shape ops (cuda/shape.cu copy_blocks and permute):
 * concat, slice and split along every dim, permute (the attention head split
 * [B, T, H, Dh] -> [B, H, T, Dh] and a 5-d permutation), reshape, forward and
 * backward. Sizes are odd so that no copy is a multiple of a block. Skips
 * without a GPU. */
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

static const int64_t BASE[3] = {3, 5, 7};

/* Three inputs of BASE's shape except along `dim`, where they have 1, 4 and 2. */
static void make_concat_inputs(int dim, Tensor **xs) {
    static const int64_t lens[3] = {1, 4, 2};
    for (int k = 0; k < 3; k++) {
        int64_t s[3] = {BASE[0], BASE[1], BASE[2]};
        s[dim] = lens[k];
        xs[k] = tensor_random_uniform(3, s, -1.0f, 1.0f, 200 + (uint64_t)(10 * dim + k));
        xs[k]->requires_grad = 1;
    }
}

static Tensor *apply_concat3(Tensor **in, void *ctx) { return op_concat(in, 3, *(int *)ctx); }

TEST(test_cuda_concat_of_three_along_each_dim_parity) {
    if (!cuda_parity_ready()) return;
    for (int dim = 0; dim < 3; dim++) {
        Tensor *xs[3];
        make_concat_inputs(dim, xs);
        ASSERT_MSG(cuda_parity_check("concat", apply_concat3, xs, 3, &dim, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
    /* Only the middle input wants a gradient: the others' blocks are skipped. */
    int dim = 1;
    Tensor *xs[3];
    make_concat_inputs(dim, xs);
    xs[0]->requires_grad = xs[2]->requires_grad = 0;
    ASSERT_MSG(cuda_parity_check("concat (one grad)", apply_concat3, xs, 3, &dim, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}

typedef struct {
    int dim;
    int64_t start, len;
} SliceCtx;

static Tensor *apply_slice(Tensor **in, void *ctx) {
    const SliceCtx *c = ctx;
    return op_slice(in[0], c->dim, c->start, c->len);
}

TEST(test_cuda_slice_along_each_dim_parity) {
    if (!cuda_parity_ready()) return;
    for (int dim = 0; dim < 3; dim++) {
        /* An interior range, the first element, and the whole dim. */
        SliceCtx cases[3] = {{dim, 1, BASE[dim] - 2}, {dim, 0, 1}, {dim, 0, BASE[dim]}};
        for (int c = 0; c < 3; c++) {
            Tensor *x = tensor_random_uniform(3, BASE, -1.0f, 1.0f, 300 + (uint64_t)dim);
            x->requires_grad = 1;
            ASSERT_MSG(cuda_parity_check("slice", apply_slice, &x, 1, &cases[c], PARITY_TOL_FP32) == 0, "%s",
                       error_message());
        }
    }
}

/* Splits into three parts and concatenates them in reverse order, so every
 * part's gradient flows back through its own slice node. */
static Tensor *apply_split_reverse(Tensor **in, void *ctx) {
    int dim = *(int *)ctx;
    int64_t n = in[0]->shape[dim];
    int64_t sizes[3] = {1, n - 3, 2};
    Tensor *parts[3];
    op_split(in[0], dim, sizes, 3, parts);
    Tensor *rev[3] = {parts[2], parts[1], parts[0]};
    return op_concat(rev, 3, dim);
}

TEST(test_cuda_split_along_each_dim_parity) {
    if (!cuda_parity_ready()) return;
    for (int dim = 0; dim < 3; dim++) {
        Tensor *x = tensor_random_uniform(3, BASE, -1.0f, 1.0f, 400 + (uint64_t)dim);
        x->requires_grad = 1;
        ASSERT_MSG(cuda_parity_check("split", apply_split_reverse, &x, 1, &dim, PARITY_TOL_FP32) == 0, "%s",
                   error_message());
    }
}

static Tensor *apply_permute(Tensor **in, void *ctx) { return op_permute(in[0], (const int *)ctx); }

TEST(test_cuda_permute_heads_and_5d_parity) {
    if (!cuda_parity_ready()) return;
    /* [B, T, H, Dh] -> [B, H, T, Dh], BERT-base heads over 35 tokens. */
    int heads[4] = {0, 2, 1, 3};
    Tensor *x = tensor_random_uniform(SHAPE(2, 35, 12, 64), -1.0f, 1.0f, 501);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("permute heads", apply_permute, &x, 1, heads, PARITY_TOL_FP32) == 0, "%s",
               error_message());
    /* And back, at a size that is no multiple of anything. */
    x = tensor_random_uniform(SHAPE(3, 5, 7, 9), -1.0f, 1.0f, 502);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("permute heads back", apply_permute, &x, 1, heads, PARITY_TOL_FP32) == 0, "%s",
               error_message());
    int five[5] = {4, 2, 0, 3, 1};
    x = tensor_random_uniform(SHAPE(2, 3, 4, 5, 6), -1.0f, 1.0f, 503);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("permute 5-d", apply_permute, &x, 1, five, PARITY_TOL_FP32) == 0, "%s",
               error_message());
    int six[6] = {5, 0, 4, 1, 3, 2};
    x = tensor_random_uniform(SHAPE(2, 3, 1, 4, 5, 3), -1.0f, 1.0f, 504);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("permute 6-d", apply_permute, &x, 1, six, PARITY_TOL_FP32) == 0, "%s",
               error_message());
    int one[1] = {0};
    x = tensor_random_uniform(SHAPE(1), -1.0f, 1.0f, 505);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("permute 1 element", apply_permute, &x, 1, one, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}

static Tensor *apply_merge_heads(Tensor **in, void *ctx) {
    (void)ctx;
    return op_permute_to(in[0], (const int[]){0, 2, 1, 3}, SHAPE(2, 35, 12 * 16));
}

TEST(test_cuda_permute_to_merges_heads_parity) {
    if (!cuda_parity_ready()) return;
    Tensor *x = tensor_random_uniform(SHAPE(2, 12, 35, 16), -1.0f, 1.0f, 506);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("heads merged", apply_merge_heads, &x, 1, NULL, PARITY_TOL_FP32) == 0, "%s",
               error_message());
}

/* A reshape between two ops that move data: the view must carry the device
 * data through, and its gradient must reach x. */
static Tensor *apply_reshape_permute(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *r = op_reshape(in[0], SHAPE(5, 3, 7));
    return op_permute(r, (const int[]){2, 0, 1});
}

static Tensor *apply_reshape(Tensor **in, void *ctx) {
    (void)ctx;
    return op_reshape(in[0], SHAPE(7, 15));
}

TEST(test_cuda_reshape_is_a_view_and_parity) {
    if (!cuda_parity_ready()) return;
    Tensor *x = tensor_random_uniform(3, BASE, -1.0f, 1.0f, 600);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("reshape", apply_reshape, &x, 1, NULL, PARITY_TOL_FP32) == 0, "%s",
               error_message());
    x = tensor_random_uniform(3, BASE, -1.0f, 1.0f, 601);
    x->requires_grad = 1;
    ASSERT_MSG(cuda_parity_check("reshape then permute", apply_reshape_permute, &x, 1, NULL, PARITY_TOL_FP32) == 0,
               "%s", error_message());
    /* On the device, as on the CPU, a reshape moves nothing. */
    Tensor *d = tensor_to_device(tensor_random_uniform(3, BASE, -1.0f, 1.0f, 602), DEVICE_CUDA);
    Tensor *v = op_reshape(d, SHAPE(105));
    ASSERT(v->device == DEVICE_CUDA);
    ASSERT(v->data == d->data);
    autograd_step_end();
}
