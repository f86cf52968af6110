/* Indexing ops: embedding, index_select, gather. Forward against direct
 * indexing, backward by finite differences, and repeated indices to prove
 * that gradients accumulate. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

static Tensor *i32_tensor(int ndim, const int64_t *shape, const int32_t *values) {
    Tensor *t = tensor_new(DTYPE_I32, ndim, shape);
    memcpy(t->data, values, tensor_nbytes(t));
    return t;
}

typedef struct {
    int dim;
    Tensor *idx;
} IndexCtx;

static Tensor *apply_embedding(Tensor **in, void *ctx) { return op_embedding(in[0], ((IndexCtx *)ctx)->idx); }
static Tensor *apply_index_select(Tensor **in, void *ctx) {
    IndexCtx *c = ctx;
    return op_index_select(in[0], c->dim, c->idx);
}
static Tensor *apply_gather(Tensor **in, void *ctx) {
    IndexCtx *c = ctx;
    return op_gather(in[0], c->dim, c->idx);
}

TEST(test_embedding_copies_rows_and_accumulates_repeated_ids) {
    Tensor *table = tensor_random_uniform(SHAPE(7, 5), -1.0f, 1.0f, 3);
    table->requires_grad = 1;
    /* id 3 three times, id 0 never: its gradient row must stay zero. */
    Tensor *ids = i32_tensor(SHAPE(2, 3), (const int32_t[]){3, 1, 3, 6, 3, 2});
    Tensor *y = op_embedding(table, ids);
    ASSERT_EQ_INT(y->ndim, 3);
    ASSERT_EQ_INT(y->shape[0], 2);
    ASSERT_EQ_INT(y->shape[1], 3);
    ASSERT_EQ_INT(y->shape[2], 5);
    for (int r = 0; r < 6; r++)
        for (int d = 0; d < 5; d++) ASSERT(tensor_f32(y)[r * 5 + d] == tensor_f32(table)[tensor_i32(ids)[r] * 5 + d]);

    float ones[30];
    for (int k = 0; k < 30; k++) ones[k] = 1.0f;
    autograd_backward_with(y, ones);
    const float *g = table->grad;
    for (int d = 0; d < 5; d++) {
        ASSERT(g[3 * 5 + d] == 3.0f);
        ASSERT(g[1 * 5 + d] == 1.0f);
        ASSERT(g[0 * 5 + d] == 0.0f);
        ASSERT(g[4 * 5 + d] == 0.0f);
    }
    tape_clear();
    IndexCtx ctx = {0, ids};
    ASSERT_MSG(gradcheck(apply_embedding, &table, 1, &ctx, gradcheck_defaults()) == 0, "%s", error_message());
}

/* CHECK aborts: run the op in a child and read what it printed. */
static void embedding_of_an_out_of_range_id(void *ctx) {
    (void)ctx;
    Tensor *table = tensor_random_uniform(SHAPE(7, 4), -1.0f, 1.0f, 3);
    Tensor *ids = i32_tensor(SHAPE(3), (const int32_t[]){1, 9, 2});
    op_embedding(table, ids);
}

TEST(test_embedding_out_of_range_id_aborts_naming_id_and_table_size) {
    int status;
    char *said = test_stderr_of_child(embedding_of_an_out_of_range_id, NULL, &status);
    ASSERT(said != NULL);
    ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status %d", status);
    ASSERT_STR_CONTAINS(said, "id 9");
    ASSERT_STR_CONTAINS(said, "7 rows");
    free(said);
}

/* x viewed as [outer, n, inner]; out[o, j, i] = x[o, idx[j], i]. */
static int check_index_select(int ndim, const int64_t *shape, int dim, int m, const int32_t *idv) {
    Tensor *x = tensor_random_uniform(ndim, shape, -2.0f, 2.0f, 21);
    x->requires_grad = 1;
    Tensor *idx = i32_tensor(SHAPE(m), idv);
    Tensor *y = op_index_select(x, dim, idx);
    int d = dim < 0 ? dim + ndim : dim;
    int64_t outer = 1, inner = 1, n = shape[d];
    for (int e = 0; e < d; e++) outer *= shape[e];
    for (int e = d + 1; e < ndim; e++) inner *= shape[e];
    if (y->shape[d] != m || tensor_numel(y) != outer * m * inner) return error_set("index_select: wrong output shape");
    for (int64_t o = 0; o < outer; o++)
        for (int j = 0; j < m; j++)
            for (int64_t i = 0; i < inner; i++)
                if (tensor_f32(y)[(o * m + j) * inner + i] != tensor_f32(x)[(o * n + idv[j]) * inner + i])
                    return error_set("index_select forward at (%lld, %d, %lld)", (long long)o, j, (long long)i);
    tape_clear();
    IndexCtx ctx = {dim, idx};
    return gradcheck(apply_index_select, &x, 1, &ctx, gradcheck_defaults());
}

TEST(test_index_select_matches_direct_indexing_with_repeats) {
    ASSERT_MSG(check_index_select(SHAPE(3, 4, 5), 1, 4, (const int32_t[]){2, 0, 2, 3}) == 0, "%s", error_message());
    ASSERT_MSG(check_index_select(SHAPE(3, 4, 5), -1, 3, (const int32_t[]){4, 4, 1}) == 0, "%s", error_message());
    ASSERT_MSG(check_index_select(SHAPE(5, 3), 0, 5, (const int32_t[]){0, 4, 4, 1, 0}) == 0, "%s", error_message());
}

TEST(test_gather_dim1_picks_per_row_and_accumulates) {
    Tensor *x = tensor_random_uniform(SHAPE(4, 6), -2.0f, 2.0f, 5);
    x->requires_grad = 1;
    const int32_t iv[] = {5, 0, 5, 1, 1, 1, 2, 3, 4, 0, 0, 2};
    Tensor *idx = i32_tensor(SHAPE(4, 3), iv);
    Tensor *y = op_gather(x, 1, idx);
    ASSERT_EQ_INT(y->shape[0], 4);
    ASSERT_EQ_INT(y->shape[1], 3);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) ASSERT(tensor_f32(y)[i * 3 + j] == tensor_f32(x)[i * 6 + iv[i * 3 + j]]);
    float ones[12];
    for (int k = 0; k < 12; k++) ones[k] = 1.0f;
    autograd_backward_with(y, ones);
    ASSERT(((float *)x->grad)[1 * 6 + 1] == 3.0f); /* row 1 picks column 1 three times */
    ASSERT(((float *)x->grad)[0 * 6 + 5] == 2.0f);
    ASSERT(((float *)x->grad)[0 * 6 + 3] == 0.0f);
    tape_clear();
    IndexCtx ctx = {-1, idx};
    ASSERT_MSG(gradcheck(apply_gather, &x, 1, &ctx, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_gather_dim0_of_3d_with_smaller_index_shape) {
    /* idx [2, 3, 2] on x [3, 4, 2] along dim 0: idx may be smaller than x on
     * the other dims, as torch.gather allows. */
    Tensor *x = tensor_random_uniform(SHAPE(3, 4, 2), -2.0f, 2.0f, 6);
    x->requires_grad = 1;
    const int32_t iv[] = {2, 0, 1, 1, 0, 0, 2, 2, 1, 0, 2, 1};
    Tensor *idx = i32_tensor(SHAPE(2, 3, 2), iv);
    Tensor *y = op_gather(x, 0, idx);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++) {
                int k = (a * 3 + b) * 2 + c;
                ASSERT(tensor_f32(y)[k] == tensor_f32(x)[(iv[k] * 4 + b) * 2 + c]);
            }
    tape_clear();
    IndexCtx ctx = {0, idx};
    ASSERT_MSG(gradcheck(apply_gather, &x, 1, &ctx, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_embedding_and_index_select_large_parallel_paths) {
    /* Sizes above the OpenMP thresholds, with many repeated ids: the threaded
     * scatter must equal a serial accumulation. */
    enum { V = 50, D = 200, N = 600 };
    Tensor *table = tensor_random_uniform(SHAPE(V, D), -1.0f, 1.0f, 7);
    table->requires_grad = 1;
    int32_t idv[N];
    for (int r = 0; r < N; r++) idv[r] = (r * 7 + r / 13) % V;
    Tensor *ids = i32_tensor(SHAPE(N), idv);
    Tensor *y = op_embedding(table, ids);
    Tensor *up = tensor_random_uniform(SHAPE(N, D), -1.0f, 1.0f, 8);
    autograd_backward_with(y, tensor_f32(up));
    static double want[V * D];
    memset(want, 0, sizeof want);
    for (int r = 0; r < N; r++) {
        for (int d = 0; d < D; d++) {
            ASSERT(tensor_f32(y)[r * D + d] == tensor_f32(table)[idv[r] * D + d]);
            want[idv[r] * D + d] += tensor_f32(up)[r * D + d];
        }
    }
    for (int k = 0; k < V * D; k++) ASSERT_NEAR(((float *)table->grad)[k], want[k], 1e-5);
    tape_clear();

    /* index_select along dim 1 of [4, 50, 400] with 60 indices: 96,000 outputs. */
    Tensor *x = tensor_random_uniform(SHAPE(4, 50, 400), -1.0f, 1.0f, 9);
    x->requires_grad = 1;
    Tensor *sel = op_index_select(x, 1, tensor_view_rows(ids, 0, 60));
    Tensor *g2 = tensor_random_uniform(SHAPE(4, 60, 400), -1.0f, 1.0f, 10);
    autograd_backward_with(sel, tensor_f32(g2));
    static double want2[4 * 50 * 400];
    memset(want2, 0, sizeof want2);
    for (int o = 0; o < 4; o++)
        for (int j = 0; j < 60; j++)
            for (int i = 0; i < 400; i++) {
                ASSERT(tensor_f32(sel)[(o * 60 + j) * 400 + i] == tensor_f32(x)[(o * 50 + idv[j]) * 400 + i]);
                want2[(o * 50 + idv[j]) * 400 + i] += tensor_f32(g2)[(o * 60 + j) * 400 + i];
            }
    for (int k = 0; k < 4 * 50 * 400; k++) ASSERT_NEAR(((float *)x->grad)[k], want2[k], 1e-5);
}
