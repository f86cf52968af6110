/* Resume (unlearn/loop_checkpoint.h): a loop interrupted during epoch k and
 * continued in a fresh model and optimizer from the checkpoint of epoch k-1
 * ends bit-identical to the same loop run without interruption: parameters,
 * momentum encoder, ITC queues, step count and loss means. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/loop.h"

typedef struct {
    const Task *task;
    TaskModel *model;
    int fail_at_epoch; /* the "kill": an error in this epoch's second step; -1 never */
} ResumeCtx;

static Tensor *resume_loss(void *ctx, LoopStep *s, double *value) {
    ResumeCtx *r = ctx;
    if (s->epoch == r->fail_at_epoch && s->it == 1) {
        error_set("killed in epoch %d", s->epoch);
        return NULL;
    }
    TaskLossOptions o = {.epoch = s->epoch, .step_in_epoch = s->it, .steps_per_epoch = s->iters, .sample_seed = 9,
                         .sample_stream = (uint64_t)s->step};
    TaskLossOutput out;
    Tensor *loss = r->task->loss(r->task, r->model, &s->batch, &o, &out);
    if (loss) *value = tensor_f32(loss)[0];
    return loss;
}

/* A fresh model (same seed, as a new process would build) and the loop over
 * the first 30 training pairs with the last 30 as side stream, 3 epochs. */
static int run_loop(const Task *t, const Tokenizer *tok, Albef *m, const int64_t *pairs, const char *dir,
                    int fail_at, LoopStats *st) {
    if (eval_world_model(m, tok, 4) < 0) return -1;
    TaskModel tm = task_retrieval_wrap(m);
    ResumeCtx ctx = {t, &tm, fail_at};
    LoopConfig c = {.name = "resume-test", .task = t, .model = &tm, .items = pairs, .n_items = 30,
                    .side_items = pairs + 30, .n_side = 30, .epochs = 3, .batch = 8, .seed = 5,
                    .stream_shuffle = 11, .stream_side = 12, .stream_dropout = 13, .lr = 3e-4, .min_lr = 1e-5,
                    .warmup_lr = 1e-5, .warmup_steps = 2, .checkpoint_dir = dir,
                    .hooks = {.loss = resume_loss, .ctx = &ctx}};
    loop_use_lavis_adamw(&c, 0.02);
    return loop_run(&c, st);
}

static int same_floats(const float *a, const float *b, int64_t n) {
    return n == 0 || memcmp(a, b, (size_t)n * sizeof *a) == 0; /* no state (no momentum encoder) is equal */
}

TEST(test_loop_resumed_after_an_interruption_ends_bit_identical) {
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok, "%s", error_message());
    Albef shape;
    ASSERT_MSG(eval_world_model(&shape, tok, 4) == 0, "%s", error_message());
    RetrievalSet train;
    ASSERT_MSG(eval_world_set(&train, "train", tok, &shape.cfg) == 0, "%s", error_message());
    Task t;
    task_retrieval_init(&t, &shape.cfg, &train, NULL, NULL);
    int64_t pairs[60];
    for (int k = 0; k < 60; k++) pairs[k] = k;
    char dir[512], state[700];
    test_tmp_path(dir, sizeof dir, "resume_ckpt");
    ASSERT(make_dirs(dir) == 0);
    snprintf(state, sizeof state, "%s/resume-test-loop.safetensors", dir);

    Albef straight, killed, resumed;
    LoopStats s_straight, s_killed, s_resumed;
    ASSERT_MSG(run_loop(&t, tok, &straight, pairs, NULL, -1, &s_straight) == 0, "%s", error_message());
    ASSERT(run_loop(&t, tok, &killed, pairs, dir, 2, &s_killed) == -1);
    ASSERT_STR_CONTAINS(error_message(), "killed in epoch 2");
    ASSERT(file_exists(state)); /* the state after epoch 2 of 3 (0-based epoch 1) */
    ASSERT_MSG(run_loop(&t, tok, &resumed, pairs, dir, -1, &s_resumed) == 0, "%s", error_message());
    ASSERT(!file_exists(state)); /* a finished loop leaves no state behind */

    ASSERT_EQ_INT(s_resumed.steps, s_straight.steps);
    ASSERT_EQ_INT(s_resumed.epochs_run, 3);
    ASSERT(memcmp(&s_resumed.last_mean, &s_straight.last_mean, sizeof(double)) == 0);
    ASSERT(memcmp(&s_resumed.first_mean, &s_straight.first_mean, sizeof(double)) == 0);
    ASSERT(straight.params.total == resumed.params.total);
    ASSERT(same_floats(resumed.params.values, straight.params.values, straight.params.total));
    ASSERT(same_floats(resumed.momentum.values, straight.momentum.values, straight.momentum.total));
    int64_t q = (int64_t)straight.cfg.embed_dim * straight.cfg.queue_size;
    ASSERT(same_floats(resumed.image_queue, straight.image_queue, q));
    ASSERT(same_floats(resumed.text_queue, straight.text_queue, q));
    ASSERT_EQ_INT(resumed.queue_ptr, straight.queue_ptr);
    /* and the interruption mattered: the killed model stopped short of them */
    ASSERT(!same_floats(killed.params.values, straight.params.values, straight.params.total));

    albef_free(&straight);
    albef_free(&killed);
    albef_free(&resumed);
    albef_free(&shape);
    t.free(&t);
    retrieval_set_free(&train);
    tokenizer_free(tok);
}
