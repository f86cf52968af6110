/* The epoch score of MultiDelete's model selection (spec/unlearning_methods.md
 * §5.3 item 5) on validation data: Dt = retrieval mean recall on the
 * validation split, AUC_code = 100·AUC(Df pairs label 0, a held-out Dr subset
 * label 1) of the pairs' own ITC cosine; for a classification task Dt = the
 * validation accuracy and AUC_code the mean over the scored class columns of
 * the same AUC on the class probabilities (eval/class_metrics.h). The selector
 * that keeps the best epoch is unlearn/model_selection.h. */
#ifndef EVAL_VALIDATION_SCORE_H
#define EVAL_VALIDATION_SCORE_H

#include <stdint.h>

#include "data/deletion.h"
#include "data/retrieval_set.h"
#include "models/task.h"

typedef struct {
    double dt;       /* validation Dt, % */
    double auc_code; /* AUC(Df 0, held-out Dr 1), % (50 = indistinguishable, higher = forgotten) */
    double score;    /* (dt + auc_code) / 2 */
} EpochScore;

/* A scorer's return (with error_set naming the value) when the model's
 * outputs are not finite: the model diverged, and no metric is computed. */
#define MODEL_SCORE_NONFINITE (-2)

typedef struct {
    const Task *task;           /* a classification task (validation_scorer_init_task), or NULL: retrieval */
    const RetrievalSet *val;    /* Dt: eval layout (flickr30k_val.json) */
    const RetrievalSet *train;  /* the Df and held-out Dr pairs live here */
    const int64_t *df;          /* Df pairs */
    int64_t n_df;
    int64_t *heldout_dr;        /* owned */
    int64_t n_heldout;
    int k_test, batch;
} ValidationScorer;

/* Draws min(|Df|, available) Dr pairs outside every evaluation subset (Philox
 * under `seed`, its own stream) as the held-out Dr subset. -1 with error_set
 * when the validation split is empty or no Dr pair is left over (the program
 * then keeps the last epoch and says so). */
int validation_scorer_init(ValidationScorer *v, const RetrievalSet *val, const RetrievalSet *train,
                           const DeletionSplit *split, const DeletionEvalSets *eval_sets, uint64_t seed, int k_test,
                           int batch);
/* The same for a classification task: Dt on its validation split
 * (TASK_SPLIT_VAL, labelled by item_label); -1 with error_set without one. */
int validation_scorer_init_task(ValidationScorer *v, const Task *task, const DeletionSplit *split,
                                const DeletionEvalSets *eval_sets, uint64_t seed, int batch);
void validation_scorer_free(ValidationScorer *v);

/* Scores model m (a ModelScoreFn of unlearn/model_selection.h over a
 * ValidationScorer): 0, -1 with error_set, or MODEL_SCORE_NONFINITE. */
int validation_scorer_score(void *ctx, TaskModel *m, EpochScore *out);

#endif
