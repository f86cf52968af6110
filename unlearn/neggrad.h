/* NegGrad (gradient ascent on Df; Golatkar et al. 2020; spec/unlearning_methods.md
 * §4.3): θ starts as a copy of θ0 and, for each Df minibatch (shuffled,
 * drop_last), takes an AdamW step on −L_task (the task loss, §3.3) at the
 * recipe's constant neggrad_lr, for one epoch. The released code never
 * runs the ascent (§8 item 1); this is the intended method.
 *
 * Stopping rule (the issue: "so it cannot run away"; §4.3's Dv floor is an
 * optional [G]): ascent has no minimum, and a model whose Df loss is above
 * that of a model that knows nothing is no longer forgetting Df but
 * anti-learning it (which itself marks Df, and wrecks Dt). The reference is
 * the task loss of uniform predictions (Task.chance_loss; retrieval:
 * ln(B + Q) + ln 2, ITC over B + Q candidates and the 2-way ITM). Before each update, the step's
 * own forward gives the Df batch's loss; at or above stop_loss (default
 * L_chance) the loop stops without taking that step. stop_loss ≤ 0 disables
 * the rule (the spec's unguarded form). The epoch budget caps the steps. */
#ifndef UNLEARN_NEGGRAD_H
#define UNLEARN_NEGGRAD_H

#include <stdint.h>

#include "models/task.h"
#include "unlearn/recipe.h"

typedef struct {
    double lr;
    int epochs;
    int batch_size;
    double weight_decay;
    int augment;
    double stop_loss;      /* ≤ 0: no rule */
    uint64_t seed;
} NegGradRun;

typedef struct {
    int64_t steps, max_steps;
    double seconds;          /* the loop only (spec §6.5) */
    double first_loss;       /* task loss of the first (global) Df batch, before its step */
    double last_loss;        /* task loss of the last batch seen */
    double first_accuracy, last_accuracy; /* the task's accuracy on the first and last batch (retrieval: ITM match rate) */
    int stopped;             /* 1 when the rule stopped the loop */
} NegGradStats;

/* The recipe's lr and epochs; stop_loss is the task's L_chance for m when the recipe asks for it. */
NegGradRun neggrad_run_from_recipe(const Recipe *r, const Task *t, const TaskModel *m, uint64_t seed);

int neggrad_unlearn(const Task *t, TaskModel *m, const int64_t *df, int64_t n_df, const NegGradRun *run,
                    NegGradStats *stats);

#endif
