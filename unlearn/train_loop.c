#include "unlearn/train_loop.h"

#include "unlearn/loop.h"

/* Philox streams of this loop, distinct from every other user of the seed. */
#define STREAM_SHUFFLE 0x747261696e736875ULL
#define STREAM_DROPOUT 0x747261696e64726fULL
#define STREAM_NEGATIVES 0x747261696e6e6567ULL

typedef struct {
    const Task *task;
    TaskModel *model;
    uint64_t seed;
} TrainCtx;

static Tensor *train_loss(void *ctx, LoopStep *s, double *value) {
    TrainCtx *c = ctx;
    TaskLossOptions o = {.epoch = s->epoch, .step_in_epoch = s->it, .steps_per_epoch = s->iters,
                         .sample_seed = c->seed, .sample_stream = STREAM_NEGATIVES + (uint64_t)s->step};
    TaskLossOutput out;
    Tensor *loss = c->task->loss(c->task, c->model, &s->batch, &o, &out);
    if (loss) {
        float v;
        tensor_copy_to_host(loss, &v); /* any device */
        *value = v;
    }
    return loss;
}

int train_task_model(const Task *t, TaskModel *m, const int64_t *items, int64_t n_items, const Recipe *recipe,
                     uint64_t seed, TrainStats *stats) {
    TrainCtx ctx = {t, m, seed};
    LoopConfig c = {
        .name = "train", .task = t, .model = m, .items = items, .n_items = n_items,
        .epochs = recipe->epochs, .batch = recipe->batch_size, .augment = recipe->augment, .seed = seed,
        .stream_shuffle = STREAM_SHUFFLE, .stream_dropout = STREAM_DROPOUT,
        .lr = recipe->init_lr, .min_lr = recipe->min_lr, .warmup_lr = recipe->warmup_lr,
        .warmup_steps = recipe->warmup_steps,
        .hooks = {.loss = train_loss, .ctx = &ctx},
    };
    loop_use_lavis_adamw(&c, recipe->weight_decay);
    LoopStats st;
    int rc = loop_run(&c, &st);
    *stats = (TrainStats){.steps = st.steps, .seconds = st.seconds, .first_loss = st.first_mean,
                          .last_loss = st.last_mean};
    return rc;
}
