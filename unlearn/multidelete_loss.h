/* The MultiDelete objective for ALBEF retrieval (paper §2; spec/unlearning_methods.md
 * §5.1-5.2):
 *
 *   L = λ_MD·L_MD + λ_MKR·L_MKR + λ_UKR·L_UKR
 *
 * on a batch of Df pairs (to forget) and a batch of Dr pairs (to keep), with θ
 * the model being unlearned (train mode) and θ0 the frozen original (eval mode,
 * run without a tape). MSE is the mean over all elements.
 *   L_MD  = MSE(S0, S') + MSE(S0ᵀ, S'ᵀ), S'[i,j] = cos(v'_i, t'_j) on Df (raw
 *           cosine, no temperature) and S0[i,j] = cos(v0_i, t0_π(j)): θ's
 *           similarity structure on Df is pushed to θ0's on Df re-paired by π.
 *   L_MKR = MSE(z0, z'), fused [CLS] of θ0 and θ on the Dr pairs.
 *   L_UKR = MSE(v0, v') + MSE(t0, t'): θ0's and θ's normalised ITC image and
 *           text features on the unpermuted Df pairs (the intended code, §5.2).
 *
 * "-F" (fusion only): call albef_set_fusion_only(θ) first (models/albef.h);
 * L_UKR then has no gradient path but is still reported (§5.3 item 6). */
#ifndef UNLEARN_MULTIDELETE_LOSS_H
#define UNLEARN_MULTIDELETE_LOSS_H

#include <stdint.h>

#include "core/tensor.h"
#include "models/albef.h"

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

/* The loss of one step. df and dr are batches of pairs (image_ids unused); perm
 * is a permutation of the Df batch (multidelete_random_permutation). θ0's
 * outputs are computed inside a no-grad scope. Returns terms->total. */
Tensor *multidelete_loss(Albef *unlearned, Albef *original, const AlbefBatch *df, const AlbefBatch *dr,
                         const int32_t *perm, const MultiDeleteOptions *opt, MultiDeleteTerms *terms);

/* A uniform random permutation of n (Philox seed, stream = step). Fixed points
 * are allowed, as in the released code (spec §5.1). */
void multidelete_random_permutation(uint64_t seed, uint64_t step, int n, int32_t *perm);

#endif
