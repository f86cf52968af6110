/* Shape ops: concat (also beyond TAPE_MAX_INPUTS inputs), slice, split,
 * reshape, permute. Forward against direct index arithmetic, backward by
 * finite differences. */
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

typedef struct {
    int n, dim;
} ConcatCtx;

static Tensor *apply_concat(Tensor **in, void *ctx) {
    ConcatCtx *c = ctx;
    return op_concat(in, c->n, c->dim);
}

/* Concatenates n random [outer, len_k, inner] blocks along dim and checks
 * every element lands at o, start_k + j, i; then gradchecks all inputs. */
static int check_concat(int n, const int64_t *lens, int ndim, const int64_t *shape, int dim, Tensor **xs) {
    int d = dim < 0 ? dim + ndim : dim;
    int64_t outer = 1, inner = 1, total = 0;
    for (int e = 0; e < d; e++) outer *= shape[e];
    for (int e = d + 1; e < ndim; e++) inner *= shape[e];
    for (int k = 0; k < n; k++) {
        int64_t s[TENSOR_MAX_DIMS];
        memcpy(s, shape, (size_t)ndim * sizeof s[0]);
        s[d] = lens[k];
        xs[k] = tensor_random_uniform(ndim, s, -1.0f, 1.0f, 100 + (uint64_t)k);
        xs[k]->requires_grad = 1;
        total += lens[k];
    }
    Tensor *y = op_concat(xs, n, dim);
    if (y->shape[d] != total) return error_set("concat: dim %d is %lld, want %lld", d, (long long)y->shape[d], (long long)total);
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < lens[k]; j++)
                for (int64_t i = 0; i < inner; i++)
                    if (tensor_f32(y)[(o * total + start + j) * inner + i] != tensor_f32(xs[k])[(o * lens[k] + j) * inner + i])
                        return error_set("concat forward: input %d element (%lld, %lld, %lld)", k, (long long)o,
                                         (long long)j, (long long)i);
        start += lens[k];
    }
    tape_clear();
    ConcatCtx ctx = {n, dim};
    return gradcheck(apply_concat, xs, n, &ctx, gradcheck_defaults());
}

TEST(test_concat_three_inputs_middle_dim) {
    Tensor *xs[3];
    ASSERT_MSG(check_concat(3, (const int64_t[]){3, 1, 2}, SHAPE(2, 0, 4), 1, xs) == 0, "%s", error_message());
}

TEST(test_concat_six_inputs_last_dim_all_get_gradients) {
    /* More inputs than a tape node holds (TAPE_MAX_INPUTS = 4). */
    Tensor *xs[6];
    ASSERT_MSG(check_concat(6, (const int64_t[]){1, 2, 3, 1, 2, 1}, SHAPE(3, 2, 0), -1, xs) == 0, "%s", error_message());
    ASSERT_EQ_INT(tape_size(), 0);
}

TEST(test_concat_dim0_skips_inputs_without_grad) {
    Tensor *a = tensor_random_uniform(SHAPE(2, 3), -1.0f, 1.0f, 1);
    Tensor *b = tensor_random_uniform(SHAPE(1, 3), -1.0f, 1.0f, 2);
    Tensor *c = tensor_random_uniform(SHAPE(3, 3), -1.0f, 1.0f, 3);
    Tensor *d = tensor_random_uniform(SHAPE(1, 3), -1.0f, 1.0f, 4);
    Tensor *e = tensor_random_uniform(SHAPE(2, 3), -1.0f, 1.0f, 5);
    a->requires_grad = 1;
    e->requires_grad = 1; /* the fifth input: beyond node->in */
    Tensor *xs[] = {a, b, c, d, e};
    Tensor *y = op_concat(xs, 5, 0);
    ASSERT_EQ_INT(y->shape[0], 9);
    float up[27];
    for (int k = 0; k < 27; k++) up[k] = (float)k;
    autograd_backward_with(y, up);
    ASSERT(b->grad == NULL && c->grad == NULL && d->grad == NULL);
    for (int k = 0; k < 6; k++) ASSERT(((float *)a->grad)[k] == (float)k);
    for (int k = 0; k < 6; k++) ASSERT(((float *)e->grad)[k] == (float)(21 + k));
}

typedef struct {
    int dim;
    int64_t start, len;
} SliceCtx;

static Tensor *apply_slice(Tensor **in, void *ctx) {
    SliceCtx *c = ctx;
    return op_slice(in[0], c->dim, c->start, c->len);
}

TEST(test_slice_copies_range_on_any_dim) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 5, 4), -1.0f, 1.0f, 9);
    x->requires_grad = 1;
    Tensor *y = op_slice(x, 1, 1, 3);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 4; c++) ASSERT(tensor_f32(y)[(a * 3 + b) * 4 + c] == tensor_f32(x)[(a * 5 + b + 1) * 4 + c]);
    Tensor *z = op_slice(x, -1, 3, 1);
    ASSERT_EQ_INT(z->shape[2], 1);
    for (int a = 0; a < 15; a++) ASSERT(tensor_f32(z)[a] == tensor_f32(x)[a * 4 + 3]);
    tape_clear();
    SliceCtx c1 = {1, 1, 3}, c2 = {-1, 3, 1}, c3 = {0, 2, 1};
    ASSERT_MSG(gradcheck(apply_slice, &x, 1, &c1, gradcheck_defaults()) == 0, "%s", error_message());
    ASSERT_MSG(gradcheck(apply_slice, &x, 1, &c2, gradcheck_defaults()) == 0, "%s", error_message());
    ASSERT_MSG(gradcheck(apply_slice, &x, 1, &c3, gradcheck_defaults()) == 0, "%s", error_message());
}

static Tensor *apply_split_reversed(Tensor **in, void *ctx) {
    (void)ctx;
    Tensor *parts[3];
    op_split(in[0], -1, (const int64_t[]){2, 4, 1}, 3, parts);
    Tensor *rev[3] = {parts[2], parts[0], parts[1]};
    return op_concat(rev, 3, -1);
}

TEST(test_split_parts_cover_input_and_carry_gradients) {
    Tensor *x = tensor_random_uniform(SHAPE(3, 7), -1.0f, 1.0f, 12);
    x->requires_grad = 1;
    Tensor *parts[3];
    op_split(x, 1, (const int64_t[]){2, 4, 1}, 3, parts);
    ASSERT_EQ_INT(parts[0]->shape[1], 2);
    ASSERT_EQ_INT(parts[1]->shape[1], 4);
    ASSERT_EQ_INT(parts[2]->shape[1], 1);
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 2; c++) ASSERT(tensor_f32(parts[0])[r * 2 + c] == tensor_f32(x)[r * 7 + c]);
        for (int c = 0; c < 4; c++) ASSERT(tensor_f32(parts[1])[r * 4 + c] == tensor_f32(x)[r * 7 + 2 + c]);
        ASSERT(tensor_f32(parts[2])[r] == tensor_f32(x)[r * 7 + 6]);
    }
    tape_clear();
    /* Reordering the parts makes a wrong part offset visible to the check. */
    ASSERT_MSG(gradcheck(apply_split_reversed, &x, 1, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

static Tensor *apply_reshape_then_slice(Tensor **in, void *ctx) {
    (void)ctx;
    /* A slice after the reshape proves the gradient reaches x through the
     * new shape (row 1 of [4, 6] is elements 6..11 of x). */
    return op_slice(op_reshape(in[0], SHAPE(4, 6)), 0, 1, 2);
}

TEST(test_reshape_keeps_order_and_passes_gradient) {
    Tensor *x = tensor_random_uniform(SHAPE(2, 3, 4), -1.0f, 1.0f, 13);
    x->requires_grad = 1;
    Tensor *y = op_reshape(x, SHAPE(6, 4));
    ASSERT_EQ_INT(y->ndim, 2);
    for (int k = 0; k < 24; k++) ASSERT(tensor_f32(y)[k] == tensor_f32(x)[k]);
    float up[24];
    for (int k = 0; k < 24; k++) up[k] = 0.5f * (float)k;
    autograd_backward_with(y, up);
    for (int k = 0; k < 24; k++) ASSERT(((float *)x->grad)[k] == 0.5f * (float)k);
    tape_clear();
    ASSERT_MSG(gradcheck(apply_reshape_then_slice, &x, 1, NULL, gradcheck_defaults()) == 0, "%s", error_message());
}

static Tensor *apply_permute(Tensor **in, void *ctx) { return op_permute(in[0], ctx); }

/* out[o] = x[p] where p[perm[e]] = o[e]. */
static int check_permute(int ndim, const int64_t *shape, const int *perm) {
    Tensor *x = tensor_random_uniform(ndim, shape, -1.0f, 1.0f, 17);
    x->requires_grad = 1;
    Tensor *y = op_permute(x, perm);
    for (int e = 0; e < ndim; e++)
        if (y->shape[e] != shape[perm[e]]) return error_set("permute: out dim %d is %lld", e, (long long)y->shape[e]);
    int64_t n = tensor_numel(x);
    for (int64_t k = 0; k < n; k++) {
        int64_t o[TENSOR_MAX_DIMS], rem = k, xoff = 0;
        for (int e = ndim - 1; e >= 0; e--) {
            o[e] = rem % y->shape[e];
            rem /= y->shape[e];
        }
        for (int e = 0; e < ndim; e++) xoff += o[e] * x->stride[perm[e]];
        if (tensor_f32(y)[k] != tensor_f32(x)[xoff]) return error_set("permute forward: element %lld", (long long)k);
    }
    tape_clear();
    return gradcheck(apply_permute, &x, 1, (void *)perm, gradcheck_defaults());
}

TEST(test_permute_matches_index_map_and_inverts_in_backward) {
    static const int swap_heads[] = {0, 2, 1, 3}, scramble[] = {3, 1, 0, 2}, transpose[] = {1, 0};
    ASSERT_MSG(check_permute(SHAPE(2, 3, 4, 5), swap_heads) == 0, "%s", error_message());
    ASSERT_MSG(check_permute(SHAPE(2, 3, 4, 5), scramble) == 0, "%s", error_message());
    ASSERT_MSG(check_permute(SHAPE(5, 3), transpose) == 0, "%s", error_message());
}

/* op_permute_to: the values and gradients of op_permute then op_reshape,
 * bit for bit, in memory the output owns (heads merged back: [B,H,T,Dh] ->
 * [B,T,H·Dh]). */
TEST(test_permute_to_is_permute_then_reshape_in_its_own_memory) {
    static const int heads[] = {0, 2, 1, 3};
    Tensor *x = tensor_random_uniform(SHAPE(2, 3, 5, 4), -1.0f, 1.0f, 23);
    Tensor *up = tensor_random_uniform(SHAPE(2, 5, 12), -1.0f, 1.0f, 24);
    x->requires_grad = 1;
    Tensor *two = op_reshape(op_permute(x, heads), SHAPE(2, 5, 12));
    autograd_backward_with(two, tensor_f32(up));
    float g_two[2 * 3 * 5 * 4];
    memcpy(g_two, x->grad, sizeof g_two);
    tape_clear();
    x->grad = NULL;
    Tensor *one = op_permute_to(x, heads, SHAPE(2, 5, 12));
    ASSERT(one->ndim == 3 && one->shape[2] == 12 && tensor_is_contiguous(one));
    ASSERT(memcmp(tensor_f32(one), tensor_f32(two), sizeof g_two) == 0);
    autograd_backward_with(one, tensor_f32(up));
    ASSERT(memcmp(x->grad, g_two, sizeof g_two) == 0);
    tape_clear();
}

TEST(test_permute_and_concat_large_parallel_paths) {
    /* [B, T, H, Dh] -> [B, H, T, Dh] at 98,304 elements (above the OpenMP
     * threshold); backward with a random upstream must land at the inverse map. */
    Tensor *x = tensor_random_uniform(SHAPE(4, 32, 12, 64), -1.0f, 1.0f, 18);
    x->requires_grad = 1;
    static const int perm[] = {0, 2, 1, 3};
    Tensor *y = op_permute(x, perm);
    Tensor *up = tensor_random_uniform(SHAPE(4, 12, 32, 64), -1.0f, 1.0f, 19);
    autograd_backward_with(y, tensor_f32(up));
    for (int b = 0; b < 4; b++)
        for (int t = 0; t < 32; t++)
            for (int h = 0; h < 12; h++)
                for (int d = 0; d < 64; d++) {
                    int64_t xi = ((b * 32 + t) * 12 + h) * 64 + d, yi = ((b * 12 + h) * 32 + t) * 64 + d;
                    ASSERT(tensor_f32(y)[yi] == tensor_f32(x)[xi]);
                    ASSERT(((float *)x->grad)[xi] == tensor_f32(up)[yi]);
                }
    tape_clear();
    Tensor *parts[2] = {tensor_random_uniform(SHAPE(300, 200), -1.0f, 1.0f, 20), tensor_random_uniform(SHAPE(300, 150), -1.0f, 1.0f, 21)};
    parts[1]->requires_grad = 1;
    Tensor *cat = op_concat(parts, 2, 1);
    Tensor *g = tensor_random_uniform(SHAPE(300, 350), -1.0f, 1.0f, 22);
    autograd_backward_with(cat, tensor_f32(g));
    for (int r = 0; r < 300; r++) {
        for (int c = 0; c < 200; c++) ASSERT(tensor_f32(cat)[r * 350 + c] == tensor_f32(parts[0])[r * 200 + c]);
        for (int c = 0; c < 150; c++) {
            ASSERT(tensor_f32(cat)[r * 350 + 200 + c] == tensor_f32(parts[1])[r * 150 + c]);
            ASSERT(((float *)parts[1]->grad)[r * 150 + c] == tensor_f32(g)[r * 350 + 200 + c]);
        }
    }
}
