/* MultiDelete's model selection (spec/unlearning_methods.md §5.3 item 5):
 * after each unlearning epoch from the 3rd on, score the model and keep the
 * epoch that maximises
 *
 *   (Dt + AUC_code) / 2
 *
 * where, as the port recommends [G] instead of the released code's test split
 * and forget set (and its missing retrieval 'acc', §8 item 5):
 *   Dt       = retrieval mean recall (TR/IR R@1/5/10, %) on the VALIDATION split,
 *   AUC_code = AUC(Df pairs label 0, a HELD-OUT Dr subset label 1) of the pairs'
 *              own ITC cosine (§6.2), in % so that both terms share a scale.
 * The held-out Dr subset is disjoint from the five Dr subsets the final Df is
 * reported on, so the selection does not tune on the reported numbers.
 *
 * The selector is generic over how an epoch is scored (ModelScoreFn), so the
 * rule can be tested with scripted scores; validation_scorer_score
 * (eval/validation_score.h) is the scorer the programs use.
 *
 *   ModelSelection sel;
 *   model_selection_init(&sel, 2, validation_scorer_score, &val_ctx);
 *   ... after each epoch: model_selection_after_epoch(&sel, epoch, &model);
 *   model_selection_restore(&sel, &model);   // the best epoch's parameters
 *   model_selection_free(&sel); */
#ifndef UNLEARN_MODEL_SELECTION_H
#define UNLEARN_MODEL_SELECTION_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/safetensors.h"
#include "eval/validation_score.h"
#include "unlearn/loop_checkpoint.h"
#include "models/task.h"

#define MODEL_SELECTION_MAX_EPOCHS 256


/* Fills out->dt and out->auc_code for model m (score is computed by the
 * selector). 0, -1 with error_set, or MODEL_SCORE_NONFINITE with error_set
 * when m's outputs are not finite (eval/validation_score.h). */
typedef int (*ModelScoreFn)(void *ctx, TaskModel *m, EpochScore *out);

typedef struct {
    int first_epoch; /* 0-based: the first epoch scored (the spec: 2, i.e. the 3rd) */
    ModelScoreFn score_fn;
    void *score_ctx;
    int n_scored;
    int epochs[MODEL_SELECTION_MAX_EPOCHS];
    EpochScore scores[MODEL_SELECTION_MAX_EPOCHS];
    int best;               /* index into epochs/scores, -1 = none yet */
    float *best_values;     /* the best epoch's parameter values (params.total floats, host) */
    int64_t n_values;
    double seconds;         /* wall-clock spent scoring */
    int dt_accuracy;        /* Dt is a classification task's validation accuracy (not mean recall): the files say so */
} ModelSelection;

void model_selection_init(ModelSelection *s, int first_epoch, ModelScoreFn fn, void *ctx);
void model_selection_free(ModelSelection *s);

/* Called after every epoch: epochs before first_epoch are ignored (returns
 * 0); otherwise scores m and, on a strictly higher score than every earlier
 * candidate (the first maximum wins ties), snapshots its parameters. A
 * non-finite score disqualifies the epoch (0); outputs too far gone to score
 * (MODEL_SCORE_NONFINITE) disqualify it and return LOOP_DIVERGED with
 * error_set naming the value, so that the loop ends on it. */
int model_selection_after_epoch(ModelSelection *s, int epoch, TaskModel *m);

/* The selected epoch (0-based), or -1 when no epoch was scored. */
int model_selection_best_epoch(const ModelSelection *s);

/* Copies the best epoch's parameters into m (no-op when none was scored).
 * Returns the selected epoch or -1. */
int model_selection_restore(const ModelSelection *s, TaskModel *m);

/* The selector's state for a loop checkpoint (unlearn/loop.h state_save), so
 * that a resumed run takes the same choice: its candidates and their scores
 * (bit for bit), the best one and its kept parameters, added to f as the
 * tensors "selection.*". */
void model_selection_state_add(const ModelSelection *s, LoopStateFile *f);
/* Restores them from the open state file f into s (initialised with the same
 * first epoch; the kept parameters must match m's size). 0, or -1 with
 * error_set naming the file and the tensor. */
int model_selection_state_read(ModelSelection *s, const SafetensorsFile *f, const TaskModel *m);

/* {"rule", "first_epoch", "candidates": [{epoch, val_r_mean, auc_code, score}],
 *  "selected_epoch", "seconds"} with 1-based epochs, for metrics.json. */
cJSON *model_selection_to_json(const ModelSelection *s, int epochs_run);
/* One markdown paragraph for report.md (malloc'ed). */
char *model_selection_to_markdown(const ModelSelection *s, int epochs_run);

#endif
