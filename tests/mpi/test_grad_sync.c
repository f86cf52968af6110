/* autograd/grad_sync.h on a small model built to stress the bucket logic: a
 * parameter that reaches the tape only through concat's long input list, one
 * used twice, a frozen one in the middle (it splits the buckets and must not
 * be reduced), a trainable one no node uses, and sizes that are not
 * multiples of the bucket. Each rank runs its shard of a global batch; the
 * reference is the global batch's gradient, which every rank computes alone. */
#include <stdlib.h>

#include "autograd/grad_sync.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/comm.h"
#include "core/rng.h"
#include "tests/test.h"

#define GLOBAL_BATCH 6
#define FEATURES 4
#define POISON 12345.0f

typedef struct {
    ParamSet ps;
    Tensor *cls, *w1, *b1, *frozen, *w2, *unused, *shared;
} Tiny;

static void tiny_init(Tiny *m, uint64_t seed) {
    params_init(&m->ps);
    m->cls = params_add_init(&m->ps, "cls", 2, (int64_t[]){1, FEATURES}, PARAM_INIT_NORMAL, 0.5f);
    m->w1 = params_add_init(&m->ps, "w1", 2, (int64_t[]){5, FEATURES}, PARAM_INIT_NORMAL, 0.5f);
    m->b1 = params_add_init(&m->ps, "b1", 1, (int64_t[]){5}, PARAM_INIT_NORMAL, 0.5f);
    m->frozen = params_add_init(&m->ps, "frozen", 1, (int64_t[]){5}, PARAM_INIT_NORMAL, 0.5f);
    m->w2 = params_add_init(&m->ps, "w2", 2, (int64_t[]){3, 5}, PARAM_INIT_NORMAL, 0.5f);
    m->unused = params_add_init(&m->ps, "unused", 1, (int64_t[]){7}, PARAM_INIT_NORMAL, 0.5f);
    m->shared = params_add_init(&m->ps, "shared", 1, (int64_t[]){3}, PARAM_INIT_NORMAL, 0.5f);
    params_finalize(&m->ps);
    params_initialize(&m->ps, seed);
    params_set_trainable_all(&m->ps, 1);
    m->frozen->requires_grad = 0;
}

/* Mean over rows [first, first + rows) of the global batch of a loss with
 * every feature above. */
static Tensor *tiny_loss(Tiny *m, int64_t first, int64_t rows) {
    float *x = malloc((size_t)(rows * FEATURES) * sizeof *x);
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < FEATURES; c++) x[r * FEATURES + c] = philox_normal(99, (uint64_t)(first + r), (uint64_t)c);
    Tensor *x_t = tensor_from_f32(2, (int64_t[]){rows, FEATURES}, x);
    free(x);
    /* cls is the fifth input of concat: beyond the tape node's in[], in its in_list only. */
    Tensor *pad = tensor_zeros(DTYPE_F32, 2, (int64_t[]){1, FEATURES});
    Tensor *xs[5] = {pad, pad, pad, x_t, m->cls};
    Tensor *h = op_concat(xs, 5, 0); /* [3 + rows + 1, F] */
    h = op_add(op_gelu(op_linear(h, m->w1, m->b1)), m->frozen);
    Tensor *cls_row = op_reshape(op_slice(h, 0, 3 + rows, 1), 1, (int64_t[]){5});
    h = op_linear(op_mul(h, cls_row), m->w2, NULL); /* every row meets the cls row */
    h = op_add(op_mul(h, m->shared), m->shared);
    h = op_slice(h, 0, 3, rows);
    return op_mean_all(op_mul(h, h));
}

static int64_t shard_rows(void) { return GLOBAL_BATCH / comm_size(); }

TEST(test_grad_sync_buckets_give_the_global_batch_gradient) {
    ASSERT(GLOBAL_BATCH % comm_size() == 0);
    Tiny ref, dp;
    tiny_init(&ref, 7);
    tiny_init(&dp, 7);
    autograd_backward(tiny_loss(&ref, 0, GLOBAL_BATCH));
    tape_clear();

    GradSync gs;
    grad_sync_init(&gs, &dp.ps, 8);
    float *frozen_grad = tensor_grad_f32(dp.frozen);
    for (int k = 0; k < 5; k++) frozen_grad[k] = POISON + (float)comm_rank();
    Tensor *loss = tiny_loss(&dp, comm_rank() * shard_rows(), shard_rows());
    grad_sync_begin(&gs);
    autograd_backward(loss);
    grad_sync_end(&gs);

    for (int p = 0; p < dp.ps.count; p++) {
        Tensor *a = dp.ps.items[p], *b = ref.ps.items[p];
        if (!a->requires_grad) continue;
        ASSERT_MSG(test_close_array(a->grad, b->grad, tensor_numel(a), 1e-6, 1e-5) < 0,
                   "%s: the ranks' mean gradient is not the global batch's", a->name);
    }
    /* The frozen parameter splits the buckets and is left alone. */
    for (int k = 0; k < 5; k++) ASSERT_NEAR(frozen_grad[k], POISON + (float)comm_rank(), 0.0);
    if (comm_size() > 1) {
        /* {shared, unused}, {w2}, {b1, w1}, {cls}: each starts before backward returns. */
        ASSERT_EQ_INT(gs.buckets_started, 4);
        ASSERT_EQ_INT(gs.buckets_started_in_backward, 4);
    }
    grad_sync_free(&gs);
    params_free(&ref.ps);
    params_free(&dp.ps);
}

/* The buckets give the same bits as one all-reduce of each whole gradient. */
TEST(test_grad_sync_buckets_match_one_whole_allreduce) {
    Tiny a, b;
    tiny_init(&a, 8);
    tiny_init(&b, 8);
    autograd_backward(tiny_loss(&b, comm_rank() * shard_rows(), shard_rows()));
    for (int p = 0; p < b.ps.count; p++)
        if (b.ps.items[p]->requires_grad)
            comm_allreduce_f32(DEVICE_CPU, b.ps.items[p]->grad, tensor_numel(b.ps.items[p]), COMM_MEAN);
    tape_clear();
    for (int64_t bucket = 1; bucket <= 40; bucket += 13) {
        GradSync gs;
        grad_sync_init(&gs, &a.ps, bucket);
        params_zero_grad(&a.ps);
        Tensor *loss = tiny_loss(&a, comm_rank() * shard_rows(), shard_rows());
        grad_sync_begin(&gs);
        autograd_backward(loss);
        grad_sync_end(&gs);
        tape_clear();
        /* Two ranks: the same pairs added, the same bits; more: MPI may order them otherwise. */
        double tol = comm_size() <= 2 ? 0.0 : 1e-6;
        for (int p = 0; p < a.ps.count; p++) {
            const Tensor *x = a.ps.items[p], *y = b.ps.items[p];
            if (!x->requires_grad) continue;
            int64_t n = tensor_numel(x);
            int same = tol == 0.0 ? memcmp(x->grad, y->grad, (size_t)n * sizeof(float)) == 0
                                  : test_close_array(x->grad, y->grad, n, tol, tol) < 0;
            ASSERT_MSG(same, "bucket %lld: %s differs from the whole all-reduce", (long long)bucket, x->name);
        }
        grad_sync_free(&gs);
    }
    params_free(&a.ps);
    params_free(&b.ps);
}

/* A step whose loss reaches no parameter still all-reduces (every rank calls
 * the same collectives), leaving zero gradients zero. */
TEST(test_grad_sync_step_without_backward) {
    Tiny m;
    tiny_init(&m, 9);
    GradSync gs;
    grad_sync_init(&gs, &m.ps, 16);
    grad_sync_begin(&gs);
    grad_sync_end(&gs);
    for (int64_t k = 0; k < tensor_numel(m.w1); k++) ASSERT_NEAR(((float *)m.w1->grad)[k], 0.0, 0.0);
    grad_sync_free(&gs);
    params_free(&m.ps);
}

TEST(test_grad_sync_broadcast_makes_ranks_identical) {
    Tiny m, root;
    tiny_init(&m, 100 + (uint64_t)comm_rank());
    tiny_init(&root, 100);
    grad_sync_broadcast_params(&m.ps, 0);
    ASSERT(memcmp(m.ps.values, root.ps.values, (size_t)m.ps.total * sizeof(float)) == 0);
    params_free(&m.ps);
    params_free(&root.ps);
}
