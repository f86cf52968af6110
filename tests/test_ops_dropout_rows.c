/* Dropout on a rank's shard of a data-parallel batch (op_dropout_rows,
 * op_attention_rows; core/rng.h rng_rows_index): a rank holding rows
 * [r·b, (r+1)·b) of each of three segments of N rows (a fused pass over
 * [positives; negatives; negatives]) must drop exactly what one process drops
 * in those rows of the global tensor, forward and backward, for 2 and 3
 * ranks; rows of an odd width straddle Philox blocks. And the one-process
 * form draws what op_dropout always drew (index k itself). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"
#include "tests/test.h"

#define SEGMENTS 3
#define GLOBAL 6
#define P_DROP 0.3f
#define SEED 0x5eed00000017ULL
#define STREAM 0x100000005ULL

/* local [SEGMENTS·b, row] = rows [rank·b, (rank+1)·b) of each segment of global [SEGMENTS·GLOBAL, row]. */
static void take_shard(const float *global, float *local, int64_t row, int ranks, int rank) {
    int64_t b = GLOBAL / ranks;
    for (int64_t s = 0; s < SEGMENTS; s++)
        memcpy(local + s * b * row, global + (s * GLOBAL + rank * b) * row, (size_t)(b * row) * sizeof *local);
}

/* A [SEGMENTS·b, shape[1..]] tensor holding the shard of g (requires_grad as g). */
static Tensor *shard_of(const Tensor *g, int ranks, int rank) {
    int64_t shape[4];
    memcpy(shape, g->shape, (size_t)g->ndim * sizeof *shape);
    shape[0] = SEGMENTS * (GLOBAL / ranks);
    Tensor *t = tensor_new(DTYPE_F32, g->ndim, shape);
    take_shard(tensor_f32(g), tensor_f32(t), tensor_numel(g) / g->shape[0], ranks, rank);
    t->requires_grad = g->requires_grad;
    return t;
}

/* 0 when local equals the shard of global bit for bit. */
static int equals_shard(const float *global, const float *local, int64_t row, int ranks, int rank) {
    int64_t n = SEGMENTS * (GLOBAL / ranks) * row;
    float *want = malloc((size_t)n * sizeof *want);
    take_shard(global, want, row, ranks, rank);
    int same = memcmp(want, local, (size_t)n * sizeof *want) == 0;
    free(want);
    return same ? 0 : -1;
}

static float *ones_like(const Tensor *t, float base) {
    float *u = malloc((size_t)tensor_numel(t) * sizeof *u);
    for (int64_t k = 0; k < tensor_numel(t); k++) u[k] = base + 0.01f * (float)(k % 97);
    return u;
}

TEST(test_dropout_rows_one_process_is_op_dropout) {
    Tensor *x = tensor_random_uniform(SHAPE(5, 9), 0.5f, 1.5f, 3);
    Tensor *a = op_dropout(x, P_DROP, SEED, STREAM), *b = op_dropout_rows(x, P_DROP, SEED, STREAM, RNG_ROWS_ONE);
    ASSERT(memcmp(tensor_f32(a), tensor_f32(b), 45 * sizeof(float)) == 0);
    for (int64_t k = 0; k < 45; k++)
        ASSERT_EQ_INT(tensor_f32(a)[k] == 0.0f, philox_uniform(SEED, STREAM, (uint64_t)k) < P_DROP);
    autograd_step_end();
}

TEST(test_dropout_rows_shard_drops_what_one_process_drops) {
    const int64_t row = 3 * 7; /* odd: a row's elements straddle Philox blocks */
    Tensor *xg = tensor_random_uniform(SHAPE(SEGMENTS * GLOBAL, 3, 7), 0.5f, 1.5f, 4);
    xg->requires_grad = 1;
    Tensor *yg = op_dropout(xg, P_DROP, SEED, STREAM);
    float *ug = ones_like(yg, 1.0f);
    autograd_backward_with(yg, ug);
    tape_clear(); /* the shards' backward passes must not run the global one again */
    int dropped = 0;
    for (int64_t k = 0; k < tensor_numel(yg); k++) dropped += tensor_f32(yg)[k] == 0.0f;
    ASSERT(dropped > 0 && dropped < tensor_numel(yg));
    for (int ranks = 2; ranks <= 3; ranks++)
        for (int rank = 0; rank < ranks; rank++) {
            int64_t b = GLOBAL / ranks;
            Tensor *xl = shard_of(xg, ranks, rank);
            Tensor *yl = op_dropout_rows(xl, P_DROP, SEED, STREAM, (RngRows){b, GLOBAL, rank * b});
            float *ul = malloc((size_t)tensor_numel(yl) * sizeof *ul);
            take_shard(ug, ul, row, ranks, rank);
            autograd_backward_with(yl, ul);
            ASSERT_MSG(equals_shard(tensor_f32(yg), tensor_f32(yl), row, ranks, rank) == 0,
                       "rank %d of %d: the forward differs from one process's rows", rank, ranks);
            ASSERT_MSG(equals_shard(xg->grad, xl->grad, row, ranks, rank) == 0,
                       "rank %d of %d: the gradient differs from one process's rows", rank, ranks);
            free(ul);
            tape_clear();
        }
    free(ug);
    autograd_step_end();
}

/* A tensor whose first dimension is no whole number of the shard's rows
 * cannot be mapped: the op stops with both sizes named (CHECK aborts). */
static void dropout_rows_of_a_stray_tensor(void *ctx) {
    (void)ctx;
    op_dropout_rows(tensor_random_uniform(SHAPE(5, 4), 0.5f, 1.5f, 5), P_DROP, SEED, STREAM, (RngRows){2, GLOBAL, 2});
}

TEST(test_dropout_rows_refuses_a_tensor_that_is_not_segments_of_the_shard) {
    int status;
    char *said = test_stderr_of_child(dropout_rows_of_a_stray_tensor, NULL, &status);
    ASSERT(said != NULL);
    ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status %d", status);
    ASSERT_STR_CONTAINS(said, "dropout: a tensor [5, 4]");
    ASSERT_STR_CONTAINS(said, "its 2 batch rows");
    free(said);
}

typedef struct {
    Tensor *q, *k, *v;
} Qkv;

static Qkv qkv_of(int64_t B) {
    const int64_t H = 2, T = 5, S = 6, Dh = 4;
    Qkv g = {tensor_random_uniform(SHAPE(B, H, T, Dh), -2.0f, 2.0f, 60),
             tensor_random_uniform(SHAPE(B, H, S, Dh), -2.0f, 2.0f, 61),
             tensor_random_uniform(SHAPE(B, H, S, Dh), -2.0f, 2.0f, 62)};
    g.q->requires_grad = g.k->requires_grad = g.v->requires_grad = 1;
    return g;
}

TEST(test_attention_rows_shard_drops_what_one_process_drops) {
    Qkv g = qkv_of(SEGMENTS * GLOBAL);
    const float scale = 0.5f;
    Tensor *og = op_attention(g.q, g.k, g.v, NULL, scale, P_DROP, SEED, STREAM);
    float *ug = ones_like(og, -0.5f);
    autograd_backward_with(og, ug);
    tape_clear();
    const int64_t orow = tensor_numel(og) / og->shape[0], qrow = tensor_numel(g.q) / g.q->shape[0],
                  krow = tensor_numel(g.k) / g.k->shape[0];
    for (int ranks = 2; ranks <= 3; ranks++)
        for (int rank = 0; rank < ranks; rank++) {
            int64_t b = GLOBAL / ranks;
            Qkv l = {shard_of(g.q, ranks, rank), shard_of(g.k, ranks, rank), shard_of(g.v, ranks, rank)};
            Tensor *ol = op_attention_rows(l.q, l.k, l.v, NULL, scale, P_DROP, SEED, STREAM,
                                           (RngRows){b, GLOBAL, rank * b});
            float *ul = malloc((size_t)tensor_numel(ol) * sizeof *ul);
            take_shard(ug, ul, orow, ranks, rank);
            autograd_backward_with(ol, ul);
            ASSERT_MSG(equals_shard(tensor_f32(og), tensor_f32(ol), orow, ranks, rank) == 0,
                       "rank %d of %d: the output differs from one process's rows", rank, ranks);
            ASSERT_MSG(equals_shard(g.q->grad, l.q->grad, qrow, ranks, rank) == 0 &&
                           equals_shard(g.k->grad, l.k->grad, krow, ranks, rank) == 0 &&
                           equals_shard(g.v->grad, l.v->grad, krow, ranks, rank) == 0,
                       "rank %d of %d: a gradient differs from one process's rows", rank, ranks);
            free(ul);
            tape_clear();
        }
    free(ug);
    autograd_step_end();
}
