/* MultiDelete for ALBEF classification (SNLI-VE, NLVR2), spec/unlearning_methods.md
 * §5.1-5.2 "VE / NLVR2 / other classification":
 *
 *   L = λ_MD·L_MD + λ_MKR·L_MKR + λ_UKR·L_UKR
 *
 * with θ the model being unlearned (train mode) and θ0 the frozen original
 * (eval mode, run without a tape); MSE is the mean over all elements.
 *   L_MD  = MSE(z0(I_i, T_π(i)), z'(I_i, T_i)): θ's fused [CLS] on the true Df
 *           item is pushed to θ0's on the item whose sentence is replaced by
 *           another Df item's (π a permutation of the batch). NLVR2: the image
 *           pair stays with its position; only the sentence moves.
 *   L_MKR = MSE(z0(Dr), z'(Dr)), fused [CLS] on the Dr batch.
 *   L_UKR = MSE over the full ViT token sequences of the Df images, θ0 against
 *           θ (NLVR2: image 0's tokens then image 1's, stacked); with
 *           ukr_text, plus MSE(W0[:,0], W'[:,0]) on the text-mode [CLS] (the
 *           paper's [u_I ; u_T]; the released code uses the image only, so the
 *           option is off by default).
 * "-F": albef_cls_set_fusion_only(θ) first; L_UKR then has no gradient path
 * but is still reported (§5.3 item 6). */
#ifndef MODELS_ALBEF_CLS_MULTIDELETE_H
#define MODELS_ALBEF_CLS_MULTIDELETE_H

#include <stdint.h>

#include "core/tensor.h"
#include "models/albef_cls.h"

typedef struct {
    float lambda_md, lambda_mkr, lambda_ukr;
    int use_md, use_mkr, use_ukr; /* ablations of Table 4: a dropped term is not computed */
    int ukr_text;                 /* add the text-mode [CLS] term to L_UKR */
} AlbefClsMdOptions;

/* All three terms, weights 1, image-only L_UKR (§5.1-5.2). */
AlbefClsMdOptions albef_cls_md_default_options(void);

typedef struct {
    Tensor *total;                 /* the weighted sum */
    Tensor *md, *mkr, *ukr;        /* unweighted terms (ukr includes the text term); NULL when dropped */
    Tensor *ukr_image, *ukr_text;  /* the parts of ukr; ukr_text NULL unless opt.ukr_text */
} AlbefClsMdTerms;

/* One step's loss on a Df and a Dr batch (labels unused); perm is a
 * permutation of the Df batch. Returns terms->total. */
Tensor *albef_cls_multidelete_loss(AlbefCls *unlearned, AlbefCls *original, const AlbefClsBatch *df,
                                   const AlbefClsBatch *dr, const int32_t *perm, const AlbefClsMdOptions *opt,
                                   AlbefClsMdTerms *terms);

#endif
