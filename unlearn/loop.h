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
 * zeroed gradients, the arena reset, the progress bar. Per epoch: every
 * parameter is checked for NaN/inf (named with its epoch: a diverged update
 * with a finite loss would otherwise be kept), the mean of the hook's values
 * is logged and the epoch-end hook runs (model selection);
 * its time is not training time (§6.5) and is kept apart. At the end the model
 * is in eval mode.
 *
 * Data parallel (core/comm.h): with several ranks, `batch` is the global
 * batch; each rank loads its contiguous share of every batch (LoopStep.batch),
 * the parameters are broadcast from rank 0 at the start, the gradients are
 * averaged over the ranks in buckets that start during the backward pass
 * (autograd/grad_sync.h), and the hook's value is averaged over the ranks
 * before the NaN check and the logs, so every rank takes the same decisions.
 * Dropout draws each row's mask at the row's place in the global batch
 * (nn/layers.h dropout_set_batch_rows), so the ranks drop what one process
 * drops.
 * A loss hook whose terms couple the items of a batch computes them on the
 * global batch (models/albef_loss.c, unlearn/multidelete_loss.c).
 *
 * A hook returns the tensor to differentiate (NULL with error_set on a
 * failure) and the scalar it reports in *value; setting step->stop ends the
 * loop before this step's update (NegGrad's floor). */
#ifndef UNLEARN_LOOP_H
#define UNLEARN_LOOP_H

#include <stdint.h>

#include "core/tensor.h"
#include "models/task.h"

/* A non-finite loss, parameter or output (with error_set), told apart from
 * failures such as an unreadable image; loop_run reports it as -1 unless
 * end_on_divergence. */
#define LOOP_DIVERGED (-2)

typedef struct {
    int epoch;
    int64_t it, iters;   /* step within the epoch, steps per epoch */
    int64_t step;        /* steps taken before this one over the whole loop */
    float lr;
    TaskBatch batch;     /* the main stream's batch */
    TaskBatch side;      /* the side stream's batch (n = 0 without side items) */
    int stop;            /* set by the loss hook: end the loop before this update */
    int global_batch;    /* items of the step over all ranks; batch.n is this rank's share */
} LoopStep;

typedef struct {
    Tensor *(*loss)(void *ctx, LoopStep *s, double *value);
    void (*after_step)(void *ctx, LoopStep *s); /* optional: after the optimizer step, before zeroing */
    /* optional: 0, -1 with error_set, or LOOP_DIVERGED with error_set when
     * the epoch's model is unusable (non-finite outputs): handled as a
     * non-finite parameter (end_on_divergence) */
    int (*epoch_end)(void *ctx, int epoch, double mean_value);
    /* Optional, both or neither: the hooks' own state across epochs (model
     * selection's candidates and kept parameters, a mask and its optimizer,
     * first-step statistics), written as one safetensors file beside the
     * loop's checkpoint after the epoch-end hook and read back on resume.
     * 0, or -1 with error_set. Hooks that keep such state and set neither
     * would resume with it lost, so a loop with an epoch-end or after-step
     * hook and no state_save is not checkpointed (it says so in the log, and
     * an interrupted run repeats it from its first epoch). */
    int (*state_save)(void *ctx, const char *path);
    int (*state_load)(void *ctx, const char *path);
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
    /* A non-finite loss, parameter or epoch-end output ends the loop
     * (stats->diverged says where) instead of failing it: for a loop whose epochs are candidates of
     * model selection, which then keeps its best earlier epoch. */
    int end_on_divergence;
    /* Where the loop's state is written after every epoch and read back at
     * the start (unlearn/loop_checkpoint.h: an interrupted run resumes from
     * its last completed epoch); NULL: loop_set_checkpoint_dir's. On any
     * device: the state is copied to the host and back. */
    const char *checkpoint_dir;
    LoopHooks hooks;
} LoopConfig;

typedef struct {
    int64_t steps;
    double seconds;       /* the loop's wall clock without the epoch-end hooks */
    double hook_seconds;  /* the epoch-end hooks' */
    double checkpoint_seconds; /* writing the epoch checkpoints (not in seconds either) */
    int resumed_epochs;   /* epochs restored from a checkpoint instead of run */
    double first_mean;    /* mean hook value of the first epoch */
    double last_mean;     /* and of the last epoch run */
    int epochs_run;
    int stopped;          /* a hook set step->stop */
    double allreduce_seconds; /* waiting for the gradient all-reduce after backward (several ranks) */
    int diverged;         /* with end_on_divergence: the loop ended on a non-finite loss or parameter */
    char diverged_at[512];/* then: what and where */
} LoopStats;

/* AdamW(0.9, 0.999, 1e-8) with the LAVIS groups at weight decay wd: the
 * optimizer of every loop of spec §3 (fills the optimizer fields of c). */
void loop_use_lavis_adamw(LoopConfig *c, double weight_decay);

/* The checkpoint directory of every loop that names none (the run driver
 * sets the run directory, and clears it in run_free); NULL turns checkpoints
 * off. The path is copied. */
void loop_set_checkpoint_dir(const char *dir);

/* Runs the loop. 0, or -1 with error_set (the message names the loop, epoch and step). */
int loop_run(const LoopConfig *c, LoopStats *stats);

#endif
