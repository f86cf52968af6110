#include "unlearn/neggrad.h"

#include <string.h>

#include "autograd/ops.h"
#include "core/comm.h"
#include "core/log.h"
#include "unlearn/loop_checkpoint.h"

/* Philox streams of this loop, distinct from the training loop's. */
#define STREAM_SHUFFLE 0x6e6567736875ULL
#define STREAM_DROPOUT 0x6e656764726fULL
#define STREAM_NEGATIVES 0x6e65676e6567ULL

NegGradRun neggrad_run_from_recipe(const Recipe *r, const Task *t, const TaskModel *m, uint64_t seed) {
    return (NegGradRun){
        .lr = r->neggrad_lr, /* base: FineTune's lr (§4.3) */
        .epochs = r->neggrad_epochs,
        .batch_size = r->batch_size,
        .weight_decay = r->weight_decay,
        .augment = r->augment,
        .stop_loss = r->neggrad_stop_at_chance ? t->chance_loss(t, m, r->batch_size) : 0,
        .seed = seed,
    };
}

typedef struct {
    const Task *task;
    TaskModel *model;
    const NegGradRun *run;
    NegGradStats *stats;
} NegGradCtx;

static Tensor *neggrad_loss(void *ctx, LoopStep *s, double *value) {
    NegGradCtx *c = ctx;
    NegGradStats *st = c->stats;
    TaskLossOptions o = {.epoch = s->epoch, .step_in_epoch = s->it, .steps_per_epoch = s->iters,
                         .sample_seed = c->run->seed, .sample_stream = STREAM_NEGATIVES + (uint64_t)s->step,
                         .want_accuracy = 1};
    TaskLossOutput out;
    Tensor *loss = c->task->loss(c->task, c->model, &s->batch, &o, &out);
    if (!loss) return NULL;
    float shard;
    tensor_copy_to_host(loss, &shard);
    /* The floor is a rule on the global batch's loss (core/comm.h): every
     * rank judges the mean over the ranks' shards (equal shards: the global
     * batch's mean), not its own shard, and the stats report the same. */
    double global[2] = {shard, out.accuracy};
    comm_allreduce_f64(global, 2, COMM_MEAN);
    double v = global[0];
    out.accuracy = global[1];
    *value = v;
    if (s->step == 0) {
        st->first_loss = v;
        st->first_accuracy = out.accuracy;
    }
    st->last_loss = v;
    st->last_accuracy = out.accuracy;
    if (c->run->stop_loss > 0 && v >= c->run->stop_loss) {
        log_info("NegGrad: stopped before step %lld: Df batch task loss %.4f >= %.4f (accuracy %.3f)",
                 (long long)s->step, v, c->run->stop_loss, out.accuracy);
        s->stop = 1;
    }
    /* Ascent: descend on the negated task loss (§4.3). */
    return op_scale(loss, -1.0f);
}

/* The first and last batches' statistics, kept across a resume (LoopHooks.state_save). */
static int neggrad_state_save(void *ctx, const char *path) {
    const NegGradStats *st = ((const NegGradCtx *)ctx)->stats;
    const double v[4] = {st->first_loss, st->first_accuracy, st->last_loss, st->last_accuracy};
    LoopStateFile f = {0};
    loop_state_add_doubles(&f, "neggrad.batch_stats", v, 4);
    return loop_state_write(&f, path);
}

static int neggrad_state_load(void *ctx, const char *path) {
    NegGradStats *st = ((NegGradCtx *)ctx)->stats;
    SafetensorsFile f;
    if (safetensors_open(&f, path) < 0) return -1;
    double v[4];
    int rc = loop_state_read_doubles(&f, "neggrad.batch_stats", v, 4);
    safetensors_close(&f);
    if (rc == 0) st->first_loss = v[0], st->first_accuracy = v[1], st->last_loss = v[2], st->last_accuracy = v[3];
    return rc;
}

int neggrad_unlearn(const Task *t, TaskModel *m, const int64_t *df, int64_t n_df, const NegGradRun *run,
                    NegGradStats *stats) {
    memset(stats, 0, sizeof *stats);
    NegGradCtx ctx = {t, m, run, stats};
    LoopConfig c = {
        .name = "neggrad", .task = t, .model = m, .items = df, .n_items = n_df,
        .epochs = run->epochs, .batch = run->batch_size, .augment = run->augment, .seed = run->seed,
        .stream_shuffle = STREAM_SHUFFLE, .stream_dropout = STREAM_DROPOUT,
        .lr = run->lr, .min_lr = run->lr, .warmup_lr = run->lr, /* constant (§4.3) */
        .hooks = {.loss = neggrad_loss, .state_save = neggrad_state_save, .state_load = neggrad_state_load,
                  .ctx = &ctx},
    };
    loop_use_lavis_adamw(&c, run->weight_decay);
    LoopStats st;
    int rc = loop_run(&c, &st);
    stats->steps = st.steps;
    stats->max_steps = (n_df / run->batch_size) * run->epochs;
    stats->seconds = st.seconds;
    stats->stopped = st.stopped;
    return rc;
}
