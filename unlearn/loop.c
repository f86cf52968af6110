#include "unlearn/loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "nn/optim.h"
#include "nn/schedule.h"

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

/* One epoch's steps; 0, or -1 with error_set. */
static int run_epoch(const LoopConfig *c, int epoch, int64_t iters, const int64_t *order, const int64_t *side,
                     AdamW *opt, Progress *bar, LoopStats *st, double *sum) {
    const Task *t = c->task;
    uint64_t transform_epoch = (uint64_t)epoch + c->transform_epoch_offset;
    TaskLoader *main = t->loader_start(t, order, iters, c->batch, c->augment, c->seed, transform_epoch);
    if (!main) return -1;
    TaskLoader *aux = NULL;
    if (side && !(aux = t->loader_start(t, side, iters, c->batch, c->augment, c->seed, transform_epoch))) {
        t->loader_stop(main);
        return -1;
    }
    int rc = 0;
    for (int64_t it = 0; it < iters && rc == 0 && !st->stopped; it++) {
        LoopStep s = {.epoch = epoch, .it = it, .iters = iters, .step = st->steps};
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
        if (!isfinite(value)) {
            rc = error_set("%s epoch %d step %lld: loss is %g (learning rate %g too high?)", c->name, epoch,
                           (long long)it, value, (double)s.lr);
            break;
        }
        if (s.stop) {
            st->stopped = 1;
            autograd_step_end();
            break;
        }
        /* With -F and only terms that reach no trainable parameter, there is nothing to differentiate. */
        if (objective->requires_grad) autograd_backward(objective);
        adamw_step(opt, s.lr);
        if (c->hooks.after_step) c->hooks.after_step(c->hooks.ctx, &s);
        params_zero_grad(c->model->params);
        autograd_step_end();
        *sum += value;
        st->steps++;
        progress_advance(bar, 1);
    }
    t->loader_stop(main);
    t->loader_stop(aux);
    return rc;
}

int loop_run(const LoopConfig *c, LoopStats *st) {
    int64_t iters = c->n_items / c->batch; /* drop_last (spec §3.2) */
    memset(st, 0, sizeof *st);
    if (iters < 1)
        return error_set("%s: %lld items, fewer than one batch of %d", c->name, (long long)c->n_items, c->batch);
    if (c->side_items && c->n_side < c->batch)
        return error_set("%s: %lld side items, fewer than one batch of %d", c->name, (long long)c->n_side, c->batch);
    AdamW opt;
    adamw_init(&opt, c->model->params, (float)c->beta1, (float)c->beta2, (float)c->eps, (float)c->weight_decay);
    if (c->lavis_decay_groups) adamw_use_lavis_decay_groups(&opt);
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
    for (int epoch = 0; epoch < c->epochs && rc == 0 && !st->stopped; epoch++) {
        memcpy(order, c->items, (size_t)c->n_items * sizeof *order);
        Rng shuffle = rng_make(c->seed, c->stream_shuffle + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, c->n_items);
        if (c->side_items) side_fill_epoch(&side, c, iters);
        double sum = 0.0;
        rc = run_epoch(c, epoch, iters, order, c->side_items ? side.epoch_items : NULL, &opt, &bar, st, &sum);
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
        }
    }
    progress_end(&bar);
    st->seconds = clock_seconds() - t0;
    autograd_step_end();
    c->task->model_set_mode(c->task, c->model, 0, c->seed);
    free(order);
    free(side.order);
    free(side.epoch_items);
    adamw_free(&opt);
    return rc;
}
