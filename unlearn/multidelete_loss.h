/* The MultiDelete objective (paper §2; spec/unlearning_methods.md §5.1-5.2),
 * written once over the task interface (models/task.h):
 *
 *   L = λ_MD·L_MD + λ_MKR·L_MKR + λ_UKR·L_UKR
 *
 * on a batch of Df items (to forget) and a batch of Dr items (to keep), with
 * θ the model being unlearned (train mode) and θ0 the frozen original (eval
 * mode, run without a tape). MSE is the mean over all elements.
 *   L_MD  = Σ_k MSE(target_k, output_k): the task's modality-decoupling pairs
 *           (Task.md_targets from θ0 on Df re-paired by π, Task.md_outputs
 *           from θ on Df; retrieval: the cosine-similarity matrix and its
 *           transpose; classification: the fused [CLS]).
 *   L_MKR = MSE(z0, z'), fused representations of θ0 and θ on the Dr items.
 *   L_UKR = Σ_k MSE(u0_k, u'_k) over the unimodal representations the task
 *           retains (TaskSides.retain) on the unpermuted Df items.
 *
 * "-F" (fusion only): set θ's fusion-only trainable set first
 * (Task.model_set_fusion_only); L_UKR then has no gradient path but is still
 * reported (§5.3 item 6). */
#ifndef UNLEARN_MULTIDELETE_LOSS_H
#define UNLEARN_MULTIDELETE_LOSS_H

#include <stdint.h>

#include "core/tensor.h"
#include "models/task.h"

typedef struct {
    float lambda_md, lambda_mkr, lambda_ukr;
    int use_md, use_mkr, use_ukr; /* ablations of Table 4: a dropped term is not computed */
} MultiDeleteOptions;

/* The paper's setting: all three terms, weights 1 (spec §5.1; paper §3.0.4). */
MultiDeleteOptions multidelete_default_options(void);

typedef struct {
    Tensor *total;          /* the weighted sum */
    Tensor *md, *mkr, *ukr; /* unweighted terms; NULL when dropped */
} MultiDeleteTerms;

/* The loss of one step. perm is a permutation of the Df batch
 * (multidelete_random_permutation). θ0's outputs are computed inside a
 * no-grad scope. Returns terms->total. */
Tensor *multidelete_loss(const Task *t, TaskModel *unlearned, TaskModel *original, const TaskBatch *df,
                         const TaskBatch *dr, const int32_t *perm, const MultiDeleteOptions *opt,
                         MultiDeleteTerms *terms);

/* A uniform random permutation of n (Philox seed, stream = step). Fixed points
 * are allowed, as in the released code (spec §5.1). */
void multidelete_random_permutation(uint64_t seed, uint64_t step, int n, int32_t *perm);

#endif
