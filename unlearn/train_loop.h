/* Training on a chosen set of items with the task loss: all of D for the
 * original model, Dr for Retrain (spec/unlearning_methods.md §3, §4.1), Dr
 * at a flat rate for FineTune. LAVIS's loop (spec/albef_blip.md §5.2-5.3):
 * per-epoch shuffle, drop_last batches, the warm-up/cosine staircase, AdamW
 * with its two decay groups; the skeleton of unlearn/loop.h. */
#ifndef UNLEARN_TRAIN_LOOP_H
#define UNLEARN_TRAIN_LOOP_H

#include <stdint.h>

#include "models/task.h"
#include "unlearn/recipe.h"

typedef struct {
    int64_t steps;
    double seconds;      /* wall clock of the loop */
    double first_loss;   /* mean loss of the first epoch */
    double last_loss;    /* mean loss of the last epoch */
} TrainStats;

/* Trains m in place on the given items. 0, or -1 with error_set (unreadable
 * image, NaN loss: the message names the epoch and step). */
int train_task_model(const Task *t, TaskModel *m, const int64_t *items, int64_t n_items, const Recipe *recipe,
                     uint64_t seed, TrainStats *stats);

#endif
