/* FineTune (Golatkar et al. 2020; spec/unlearning_methods.md §4.2): keep
 * training θ (a copy of θ0) on Dr only, with the task loss (retrieval: ITC + ITM, §3.3),
 * AdamW with LAVIS's decay groups, at a constant learning rate
 * init_lr × lr_mult ("a larger learning rate, similar to catastrophic
 * forgetting", paper §3.0.2). The released code uses the config lr (×1) and
 * one epoch, which is the default (§9 [G]); a multiplier flag sweeps it.
 *
 * FineTune never reads Df: the loop is given the Dr pair indices only, and
 * the model starts with a fresh (random) ITC queue, because θ0's queue holds
 * momentum features of its last training batches, Df pairs included. */
#ifndef UNLEARN_FINETUNE_H
#define UNLEARN_FINETUNE_H

#include <stdint.h>

#include "models/task.h"
#include "unlearn/recipe.h"
#include "unlearn/train_loop.h"

typedef struct {
    double lr;            /* constant learning rate (already multiplied) */
    int epochs;
    int batch_size;
    double weight_decay;
    int augment;
    uint64_t seed;
} FineTuneRun;

/* The run the recipe implies: lr = finetune_lr × lr_mult for finetune_epochs. */
FineTuneRun finetune_run_from_recipe(const Recipe *r, double lr_mult, uint64_t seed);

/* Trains m in place on the Dr pairs. 0, or -1 with error_set. */
int finetune_unlearn(const Task *t, TaskModel *m, const int64_t *dr, int64_t n_dr, const FineTuneRun *run,
                     TrainStats *stats);

#endif
