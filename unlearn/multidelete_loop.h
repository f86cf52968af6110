/* The MultiDelete optimisation loop (spec/unlearning_methods.md §5.3) on the
 * skeleton of unlearn/loop.h: θ starts as a copy of θ0; each iteration takes
 * one Df batch (shuffled per epoch, drop_last; an epoch = ⌊|Df| / b⌋
 * iterations) and one Dr batch of the same size (the intended equal halves,
 * §5.3 item 2, drawn from a Dr order that is reshuffled whenever it runs out),
 * computes L = λ1·L_MD + λ2·L_MKR + λ3·L_UKR (unlearn/multidelete_loss.h) and
 * takes an AdamW step at the LAVIS staircase learning rate. θ0 runs in eval mode without a tape. With run->select, the
 * model selection of §5.3 item 5 scores θ after every epoch from the 3rd on
 * and θ ends holding the best epoch's parameters (unlearn/model_selection.h).
 *
 * The AdamW moments start at zero: the released code restores them from θ0's
 * training checkpoint (§5.3 item 1), which a user holding only the model
 * weights does not have. */
#ifndef UNLEARN_MULTIDELETE_LOOP_H
#define UNLEARN_MULTIDELETE_LOOP_H

#include <stdint.h>

#include "models/task.h"
#include "unlearn/model_selection.h"
#include "unlearn/multidelete_loss.h"

typedef struct {
    double lr, min_lr;
    int epochs;
    int batch_df;          /* Df pairs per step; the Dr half has as many */
    int augment;
    uint64_t seed;
    MultiDeleteOptions loss;
    /* §5.3 item 5: scores the model after every epoch from select->first_epoch
     * on and leaves the best epoch's parameters in θ at the end; NULL keeps
     * the last epoch. Owned by the caller (read its results after the loop).
     * With it, a diverging epoch (NaN/inf loss, parameters, or outputs met
     * while scoring it) ends the loop and is no candidate: the best earlier
     * epoch is kept, and with none the run fails naming where it diverged. */
    ModelSelection *select;
    /* Optional: called with θ before the first step (epoch -1) and after every
     * epoch, before the selection scores it (a diagnostic such as the
     * similarity trace of bin/unlearn_multidelete --trace-similarity); its
     * time is kept apart from the unlearning time, as the selection's. 0, or
     * -1 with error_set. */
    int (*trace)(void *ctx, int epoch, TaskModel *unlearned);
    void *trace_ctx;
} MultiDeleteRun;

typedef struct {
    int64_t steps, steps_per_epoch;
    double seconds;                          /* the loop only, no evaluation (spec §6.5) */
    double select_seconds;                   /* scoring epochs for the model selection (not in seconds) */
    int selected_epoch;                      /* 0-based epoch whose parameters θ holds (the last without selection) */
    double first_md, first_mkr, first_ukr;   /* mean terms over the first epoch */
    double last_md, last_mkr, last_ukr;      /* and over the last */
    int diverged;                            /* the loop ended on a non-finite loss or parameter */
    char diverged_at[512];                   /* then: what and where */
} MultiDeleteStats;

int multidelete_unlearn(const Task *t, TaskModel *unlearned, TaskModel *original, const int64_t *df, int64_t n_df,
                        const int64_t *dr, int64_t n_dr, const MultiDeleteRun *run, MultiDeleteStats *stats);

#endif
