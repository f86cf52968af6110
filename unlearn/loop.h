/* The training-loop skeleton every method shares (Retrain and the original's
 * training, MultiDelete, FineTune, NegGrad, Erm-Ktp's two phases): the
 * machinery of spec/unlearning_methods.md §3 and spec/albef_blip.md §5.2-5.3,
 * written once over the task interface (models/task.h).
 *
 * Per epoch: the items are shuffled (Philox stream_shuffle + epoch) and cut
 * into ⌊n / batch⌋ batches (drop_last); with side items, each step also gets a
 * side batch of the same size from a side order that is reshuffled (stream_side
 * + round) whenever it runs out (MultiDelete's Dr half, §5.3 item 2). A loader
 * prepares the batches on a background thread. Per step: the LAVIS
 * warm-up/cosine staircase learning rate, train mode with dropout seeded by
 * (stream_dropout, step), the method's loss hook, a NaN check that names the
 * epoch and step, backward, AdamW (LAVIS decay groups), the after-step hook,
 * zeroed gradients, the arena reset, the progress bar. Per epoch: the mean of
 * the hook's values is logged and the epoch-end hook runs (model selection);
 * its time is not training time (§6.5) and is kept apart. At the end the model
 * is in eval mode.
 *
 * A hook returns the tensor to differentiate (NULL with error_set on a
 * failure) and the scalar it reports in *value; setting step->stop ends the
 * loop before this step's update (NegGrad's floor). */
#ifndef UNLEARN_LOOP_H
#define UNLEARN_LOOP_H

#include <stdint.h>

#include "core/tensor.h"
#include "models/task.h"

typedef struct {
    int epoch;
    int64_t it, iters;   /* step within the epoch, steps per epoch */
    int64_t step;        /* steps taken before this one over the whole loop */
    float lr;
    TaskBatch batch;     /* the main stream's batch */
    TaskBatch side;      /* the side stream's batch (n = 0 without side items) */
    int stop;            /* set by the loss hook: end the loop before this update */
} LoopStep;

typedef struct {
    Tensor *(*loss)(void *ctx, LoopStep *s, double *value);
    void (*after_step)(void *ctx, LoopStep *s); /* optional: after the optimizer step, before zeroing */
    int (*epoch_end)(void *ctx, int epoch, double mean_value); /* optional: 0, or -1 with error_set */
    void *ctx;
} LoopHooks;

typedef struct {
    const char *name;                   /* progress bar, log and error messages */
    const Task *task;
    TaskModel *model;                   /* the model stepped */
    const int64_t *items;               /* main stream (borrowed) */
    int64_t n_items;
    const int64_t *side_items;          /* optional side stream */
    int64_t n_side;
    int epochs, batch, augment;
    uint64_t seed;
    uint64_t stream_shuffle, stream_side, stream_dropout;
    uint64_t transform_epoch_offset;    /* the augmentation's epoch is epoch + this */
    double beta1, beta2, eps, weight_decay;
    int lavis_decay_groups;             /* AdamW's no-decay group for biases, norms and temp */
    double lr, min_lr, warmup_lr;       /* the LAVIS staircase over `epochs` */
    int warmup_steps;
    LoopHooks hooks;
} LoopConfig;

typedef struct {
    int64_t steps;
    double seconds;       /* the loop's wall clock without the epoch-end hooks */
    double hook_seconds;  /* the epoch-end hooks' */
    double first_mean;    /* mean hook value of the first epoch */
    double last_mean;     /* and of the last epoch run */
    int epochs_run;
    int stopped;          /* a hook set step->stop */
} LoopStats;

/* AdamW(0.9, 0.999, 1e-8) with the LAVIS groups at weight decay wd: the
 * optimizer of every loop of spec §3 (fills the optimizer fields of c). */
void loop_use_lavis_adamw(LoopConfig *c, double weight_decay);

/* Runs the loop. 0, or -1 with error_set (the message names the loop, epoch and step). */
int loop_run(const LoopConfig *c, LoopStats *stats);

#endif
