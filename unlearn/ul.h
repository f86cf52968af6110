/* UL: knowledge unlearning (Jang et al., ACL 2023; spec/unlearning_methods.md
 * §4.8), a text-only method: gradient ascent on the token log-likelihood of
 * the forget sequences. The multimodal port (§4.8 leaves the adaptation open,
 * §9 [U]) ascends the masked-language-modelling loss of the Df texts
 * (models/mlm_head.h, on the task's Task.text_states: where the model fuses
 * token by token, conditioned on the item's image side, as vision-language
 * pre-training's MLM), with UL's schedule:
 *   - Adam β = (0.9, 0.98), no weight decay, lr (S8: 5e-5);
 *   - the batch is the whole Df (gradient accumulation over minibatches), so
 *     an epoch is one update, at most max_epochs (S8: 20);
 *   - stopping: UL stops once the memorisation accuracy MA (greedy next-token
 *     accuracy) and EL_10 (extraction likelihood of greedy continuations) of
 *     the forget set fall below the model's values on unseen data. The MLM
 *     analogue of MA is the masked-token accuracy; EL_n scores generated
 *     continuations, which an encoder without a decoder cannot produce, so
 *     only MA is used. After each update, MA on Df (fixed evaluation masks,
 *     eval mode) is compared with stop_accuracy, the original model's MA on
 *     unseen (test) texts; at or below it the loop stops.
 * Trainable: the text side only (Task.text_prefixes: f_T and g), the image
 * side frozen ("unimodal (text only)", §4.8); UL-F: the task's "-F" set. The
 * MLM head itself stays frozen: an ascent that could move the head would
 * "forget" by breaking the scorer, not the model. */
#ifndef UNLEARN_UL_H
#define UNLEARN_UL_H

#include <stdint.h>

#include "models/mlm_head.h"
#include "models/task.h"

typedef struct {
    double lr;
    int max_epochs;
    int batch_size;         /* minibatch of the gradient accumulation */
    float mask_prob;
    double stop_accuracy;   /* MA threshold; < 0: never stop early */
    MlmSpecial special;
    uint64_t seed;
} UlRun;

typedef struct {
    int epochs;             /* updates taken */
    double seconds;         /* the loop only (spec §6.5) */
    double first_ma, last_ma;   /* Df masked-token accuracy before the first update and after the last */
    double first_nll, last_nll; /* Df mean masked-token NLL, likewise */
    int stopped;            /* 1 when MA reached stop_accuracy */
} UlStats;

/* Masked-token accuracy and mean NLL of the texts of `items` of `split`, with
 * the fixed evaluation masks of `seed`, in eval mode without a tape. */
int ul_mlm_score(const Task *t, TaskModel *m, const MlmHead *h, TaskSplit split, const int64_t *items, int64_t n,
                 int batch, float mask_prob, MlmSpecial sp, uint64_t seed, double *accuracy, double *nll);

/* UL's trainable set on m: the text side (UL) or the task's fusion set (UL-F). Returns the tensor count. */
int ul_set_trainable(const Task *t, TaskModel *m, int fusion_only);

/* The head's initialisation when the checkpoint has none: trains only the head
 * (the model frozen, no tape through it) on the training `items` (all of D:
 * the original model's training data, as pre-training's MLM saw all its data)
 * for `epochs` with AdamW. Returns 0 and the mean loss of the first and last
 * epoch. */
int ul_train_mlm_head(const Task *t, TaskModel *m, MlmHead *h, const int64_t *items, int64_t n, int epochs,
                      double lr, int batch, float mask_prob, MlmSpecial sp, uint64_t seed, double *first_loss,
                      double *last_loss);

/* The ascent on m (its trainable flags as set by ul_set_trainable) over the Df training items. */
int ul_unlearn(const Task *t, TaskModel *m, const MlmHead *h, const int64_t *df, int64_t n_df, const UlRun *run,
               UlStats *stats);

#endif
