/* ALBEF retrieval training (ITC + ITM, momentum distillation) over a chosen
 * set of training pairs: all of D for the original model, Dr for Retrain
 * (spec/unlearning_methods.md §3, §4.1). LAVIS's loop: per-epoch shuffle,
 * drop_last batches, the LAVIS warm-up/cosine staircase learning rate,
 * AdamW with its two decay groups (spec/albef_blip.md §5.2-5.3). */
#ifndef UNLEARN_TRAIN_LOOP_H
#define UNLEARN_TRAIN_LOOP_H

#include <stdint.h>

#include "data/retrieval_set.h"
#include "models/albef.h"
#include "unlearn/recipe.h"

typedef struct {
    int64_t steps;
    double seconds;      /* wall clock of the loop */
    double first_loss;   /* mean loss of the first epoch */
    double last_loss;    /* mean loss of the last epoch */
} TrainStats;

/* Trains m in place on the given pair (text) indices. 0, or -1 with
 * error_set (unreadable image, NaN loss: the message names the step). */
int albef_train_retrieval(Albef *m, const RetrievalSet *train, const int64_t *pairs, int64_t n_pairs,
                          const Recipe *recipe, uint64_t seed, TrainStats *stats);

#endif
