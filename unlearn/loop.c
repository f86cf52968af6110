#include "unlearn/loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_sync.h"
#include "autograd/tape.h"
#include "core/clock.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "unlearn/loop_checkpoint.h"

static char default_dir[4096];
static const char *default_checkpoint_dir; /* NULL or default_dir */

void loop_set_checkpoint_dir(const char *dir) {
    default_checkpoint_dir = NULL;
    if (!dir || !dir[0]) return;
    snprintf(default_dir, sizeof default_dir, "%s", dir);
    default_checkpoint_dir = default_dir;
}

void loop_use_lavis_adamw(LoopConfig *c, double weight_decay) {
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->weight_decay = weight_decay;
    c->lavis_decay_groups = 1;
}

/* The side items of one epoch's iters steps, from an order reshuffled whenever it runs out. */
typedef struct {
    int64_t *order, *epoch_items;
    int64_t n, pos, round;
} SideStream;

static void side_fill_epoch(SideStream *s, const LoopConfig *c, int64_t iters) {
    int b = c->batch;
    for (int64_t it = 0; it < iters; it++) {
        if (s->pos + b > s->n) {
            Rng r = rng_make(c->seed, c->stream_side + (uint64_t)s->round++);
            rng_shuffle_i64(&r, s->order, s->n);
            s->pos = 0;
        }
        memcpy(s->epoch_items + it * b, s->order + s->pos, (size_t)b * sizeof *s->epoch_items);
        s->pos += b;
    }
}

/* Data parallel (core/comm.h): every rank walks the same global order and
 * takes its contiguous share of each global batch, rank r the items
 * [r·b, (r+1)·b) of every batch of b·ranks. */
static void shard_batches(const int64_t *items, int64_t iters, int global, int64_t *out) {
    int b = global / comm_size();
    for (int64_t it = 0; it < iters; it++)
        memcpy(out + it * b, items + it * global + (int64_t)comm_rank() * b, (size_t)b * sizeof *out);
}

/* The gradient buckets' size: 25 MiB of f32, PyTorch DDP's default, small
 * enough that the first buckets go out early in the backward pass and large
 * enough that each all-reduce runs near the link's bandwidth (bench/README.md). */
#define LOOP_BUCKET_ELEMS (25 * 1024 * 1024 / 4)

/* One epoch's steps; 0, LOOP_DIVERGED, or -1 with error_set. */
static int run_epoch(const LoopConfig *c, int epoch, int64_t iters, const int64_t *order, const int64_t *side,
                     AdamW *opt, GradSync *gs, int64_t *shard, Progress *bar, LoopStats *st, double *sum) {
    const Task *t = c->task;
    uint64_t transform_epoch = (uint64_t)epoch + c->transform_epoch_offset;
    const int b = c->batch / comm_size(); /* this rank's share of each batch */
    int64_t *side_shard = shard + iters * b;
    shard_batches(order, iters, c->batch, shard);
    if (side) shard_batches(side, iters, c->batch, side_shard);
    TaskLoader *main = t->loader_start(t, shard, iters, b, c->augment, c->seed, transform_epoch);
    if (!main) return -1;
    TaskLoader *aux = NULL;
    if (side && !(aux = t->loader_start(t, side_shard, iters, b, c->augment, c->seed, transform_epoch))) {
        t->loader_stop(main);
        return -1;
    }
    /* Dropout draws by global row: this rank's rows get the masks one process gives them. */
    dropout_set_batch_rows((RngRows){b, c->batch, (int64_t)comm_rank() * b});
    int rc = 0;
    for (int64_t it = 0; it < iters && rc == 0 && !st->stopped; it++) {
        LoopStep s = {.epoch = epoch, .it = it, .iters = iters, .step = st->steps, .global_batch = c->batch};
        s.lr = lavis_cosine_lr((float)c->lr, (float)c->min_lr, epoch, c->epochs, (float)c->warmup_lr,
                               c->warmup_steps, it);
        if (t->loader_next(main, &s.batch) != 1 || (aux && t->loader_next(aux, &s.side) != 1)) {
            rc = error_prefix("%s epoch %d step %lld", c->name, epoch, (long long)it);
            break;
        }
        t->model_set_mode(t, c->model, 1, philox_u32(c->seed, c->stream_dropout, (uint64_t)st->steps) ^ c->seed);
        double value = 0.0;
        Tensor *objective = c->hooks.loss(c->hooks.ctx, &s, &value);
        if (!objective) {
            rc = error_prefix("%s epoch %d step %lld", c->name, epoch, (long long)it);
            break;
        }
        /* The ranks' values are means over their shards (or the global term
         * itself): their mean is the global batch's, and every rank takes the
         * same decisions below (NaN, stop). */
        double agreed[2] = {value, s.stop ? 1.0 : 0.0};
        comm_allreduce_f64(agreed, 2, COMM_MEAN);
        value = agreed[0];
        s.stop = agreed[1] > 0.0;
        if (!isfinite(value)) {
            error_set("%s epoch %d step %lld: loss is %g (learning rate %g too high?)", c->name, epoch,
                      (long long)it, value, (double)s.lr);
            rc = LOOP_DIVERGED;
            break;
        }
        if (s.stop) {
            st->stopped = 1;
            autograd_step_end();
            break;
        }
        /* With -F and only terms that reach no trainable parameter, there is nothing to differentiate. */
        grad_sync_begin(gs);
        if (objective->requires_grad) autograd_backward(objective);
        grad_sync_end(gs); /* the mean over ranks: the global batch's gradient */
        adamw_step(opt, s.lr);
        if (c->hooks.after_step) c->hooks.after_step(c->hooks.ctx, &s);
        params_zero_grad(c->model->params);
        autograd_step_end();
        *sum += value;
        st->steps++;
        progress_advance(bar, 1);
    }
    dropout_set_batch_rows(RNG_ROWS_ONE);
    t->loader_stop(main);
    t->loader_stop(aux);
    return rc;
}

/* After an epoch's updates: a parameter that became NaN or infinite (with a
 * finite loss, e.g. an overflowing step) is named with the epoch. */
static int check_parameters(const LoopConfig *c, int epoch) {
    int64_t element = 0;
    int k = params_find_nonfinite(c->model->params, &element);
    if (k < 0) return 0;
    error_set("%s epoch %d: parameter %s holds a non-finite value (element %lld) after the update "
              "(learning rate %g too high?)",
              c->name, epoch, c->model->params->items[k]->name, (long long)element, c->lr);
    return LOOP_DIVERGED;
}

/* With end_on_divergence, a diverged epoch ends the loop without failing it:
 * the stats keep the message saying what and where. Returns 0. */
static int end_diverged(LoopStats *st) {
    snprintf(st->diverged_at, sizeof st->diverged_at, "%s", error_message());
    st->diverged = 1;
    log_warn("%s; the loop ends here", st->diverged_at);
    return 0;
}

int loop_run(const LoopConfig *c, LoopStats *st) {
    int64_t iters = c->n_items / c->batch; /* drop_last (spec §3.2) */
    memset(st, 0, sizeof *st);
    if (iters < 1)
        return error_set("%s: %lld items, fewer than one batch of %d", c->name, (long long)c->n_items, c->batch);
    if (c->side_items && c->n_side < c->batch)
        return error_set("%s: %lld side items, fewer than one batch of %d", c->name, (long long)c->n_side, c->batch);
    if (c->batch % comm_size() != 0)
        return error_set("%s: the batch of %d does not split over %d ranks (a multiple of the rank count is needed)",
                         c->name, c->batch, comm_size());
    AdamW opt;
    adamw_init(&opt, c->model->params, (float)c->beta1, (float)c->beta2, (float)c->eps, (float)c->weight_decay);
    if (c->lavis_decay_groups) adamw_use_lavis_decay_groups(&opt);
    GradSync gs;
    grad_sync_init(&gs, c->model->params, LOOP_BUCKET_ELEMS);
    grad_sync_broadcast_params(c->model->params, 0); /* identical from the first step, whatever each rank loaded */
    int64_t *shard = xmalloc((size_t)(2 * iters * (c->batch / comm_size())) * sizeof *shard);
    int64_t *order = xmalloc((size_t)c->n_items * sizeof *order);
    SideStream side = {0};
    if (c->side_items) {
        side.order = xmalloc((size_t)c->n_side * sizeof *side.order);
        side.epoch_items = xmalloc((size_t)(iters * c->batch) * sizeof *side.epoch_items);
        memcpy(side.order, c->side_items, (size_t)c->n_side * sizeof *side.order);
        side.n = side.pos = c->n_side; /* forces a shuffle before the first side batch */
    }
    double t0 = clock_seconds();
    int rc = 0;
    Progress bar;
    progress_begin(&bar, c->name, (int64_t)c->epochs * iters);
    LoopConfig ck = *c;
    if (!ck.checkpoint_dir) ck.checkpoint_dir = default_checkpoint_dir;
    int checkpoints = ck.checkpoint_dir != NULL;
    if (checkpoints && !c->hooks.state_save && (c->hooks.epoch_end || c->hooks.after_step)) {
        log_warn("%s: not checkpointed (its hooks save no state): an interrupted run repeats it from epoch 0", c->name);
        checkpoints = 0;
    }
    LoopPosition at = {.side_order = side.order, .n_side = c->side_items ? c->n_side : 0};
    int start = 0;
    if (checkpoints && (rc = loop_checkpoint_read(&ck, &opt, &at)) == 1) {
        start = (int)at.epochs_done;
        st->steps = at.steps;
        st->epochs_run = st->resumed_epochs = start;
        st->first_mean = at.first_mean;
        st->last_mean = at.last_mean;
        side.pos = at.side_pos;
        side.round = at.side_round;
        progress_advance(&bar, (int64_t)start * iters);
    }
    rc = rc < 0 ? -1 : 0;
    for (int epoch = start; epoch < c->epochs && rc == 0 && !st->stopped; epoch++) {
        memcpy(order, c->items, (size_t)c->n_items * sizeof *order);
        Rng shuffle = rng_make(c->seed, c->stream_shuffle + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, c->n_items);
        if (c->side_items) side_fill_epoch(&side, c, iters);
        double sum = 0.0;
        rc = run_epoch(c, epoch, iters, order, c->side_items ? side.epoch_items : NULL, &opt, &gs, shard, &bar, st,
                       &sum);
        if (rc == 0) rc = check_parameters(c, epoch);
        if (rc == LOOP_DIVERGED && c->end_on_divergence) {
            rc = end_diverged(st);
            break;
        }
        if (rc < 0 || st->stopped) break;
        double mean = sum / (double)iters;
        if (epoch == 0) st->first_mean = mean;
        st->last_mean = mean;
        st->epochs_run++;
        if (!c->hooks.epoch_end) log_info("%s epoch %d: mean loss %.4f", c->name, epoch, mean);
        if (c->hooks.epoch_end) {
            double h0 = clock_seconds();
            rc = c->hooks.epoch_end(c->hooks.ctx, epoch, mean);
            double spent = clock_seconds() - h0;
            st->hook_seconds += spent;
            t0 += spent;
            if (rc == LOOP_DIVERGED) { /* e.g. model selection met non-finite outputs */
                error_prefix("%s epoch %d", c->name, epoch);
                if (c->end_on_divergence) {
                    rc = end_diverged(st);
                    break;
                }
            }
        }
        /* After the epoch-end hook, so that the state holds its decisions on
         * this epoch (model selection's); neither is unlearning time (§6.5). */
        if (rc == 0 && checkpoints) {
            double w0 = clock_seconds();
            at = (LoopPosition){epoch + 1, st->steps, st->first_mean, st->last_mean, side.pos, side.round,
                                side.order, c->side_items ? c->n_side : 0};
            rc = loop_checkpoint_write(&ck, &opt, &at);
            double spent = clock_seconds() - w0;
            st->checkpoint_seconds += spent;
            t0 += spent;
        }
    }
    progress_end(&bar);
    if (rc == 0 && checkpoints) loop_checkpoint_remove(&ck); /* done: a later loop of this name starts afresh */
    st->seconds = clock_seconds() - t0;
    autograd_step_end();
    c->task->model_set_mode(c->task, c->model, 0, c->seed);
    st->allreduce_seconds = gs.wait_seconds;
    grad_sync_free(&gs);
    free(shard);
    free(order);
    free(side.order);
    free(side.epoch_items);
    adamw_free(&opt);
    return rc < 0 ? -1 : 0;
}
