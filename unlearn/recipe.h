/* Training and unlearning hyperparameters: the one place their defaults live
 * (DESIGN.md "One truth per number"), one table row per model and task.
 * Programs look the row up by the model config's name and the --task name,
 * let flags override single fields (programs/run_driver.h "knobs"), and echo
 * the result in config.json before anything runs.
 *
 * albef-base rows follow the paper's setting (spec/albef_blip.md §5.1;
 * spec/unlearning_methods.md §3.2, §5.3). albef-tiny rows are this project's
 * CPU demo: a model trained from scratch on a synthetic world, which needs a
 * larger learning rate and a warm-up, and a small k_test so that the ITM
 * rerank of evaluation takes seconds.
 *
 * Adding a task (SNLI-VE, NLVR2, PGR): add its rows to the table in
 * unlearn/recipe.c; a model/task pair without a row is an error. */
#ifndef UNLEARN_RECIPE_H
#define UNLEARN_RECIPE_H

#include <stdint.h>

typedef struct {
    /* training of the original model (and Retrain, FineTune) */
    double init_lr, min_lr, warmup_lr;
    int warmup_steps;
    double weight_decay;
    int epochs, batch_size;
    int augment;      /* LAVIS training transform (0: eval transform; the synthetic scenes'
                         captions name left/right, which a flip would falsify) */
    /* evaluation */
    int batch_eval, k_test;
    /* MultiDelete (spec/unlearning_methods.md §5.3) */
    double unlearn_lr;
    int unlearn_epochs, unlearn_batch_df; /* Df half of each batch; the Dr half has the same size */
    /* FineTune (spec/unlearning_methods.md §4.2, §9): constant lr = finetune_lr × finetune_lr_mult
     * over Dr for finetune_epochs (the released code: the training init_lr, ×1, one epoch); DtD's
     * optional descent uses the same loop */
    double finetune_lr, finetune_lr_mult;
    int finetune_epochs;
    /* NegGrad (§4.3): ascent at init_lr for neggrad_epochs over Df; with
     * neggrad_stop_at_chance, stops once a Df batch's task loss reaches the loss of
     * uniform predictions (unlearn/neggrad.h) */
    int neggrad_epochs, neggrad_stop_at_chance;
    double neggrad_lr; /* base: init_lr (§4.3: FineTune's lr); tiny: its from-scratch init_lr overshoots in 2 ascent steps */
    /* DtD (§4.5, §9): descent epochs on Dr before the noise (0 = the released code),
     * T of Thm 3.1 (S1: 1) and its privacy ε (S5: 5); δ = 1/n² */
    int dtd_descent_epochs, dtd_T;
    double dtd_epsilon;
    /* UL (§4.8): Adam(0.9, 0.98) at ul_lr without weight decay, one full-Df update per
     * epoch, at most ul_max_epochs; MLM masking probability (ALBEF pre-training: 0.15);
     * the MLM head's initialising epochs on D when the checkpoint has none */
    double ul_lr, ul_mask_prob, mlm_head_lr;
    int ul_max_epochs, mlm_head_epochs;
    /* L-codec (§4.6, §9): P perturbations (cheap FOCI with P = 32-100), Df removed in
     * batches of lcodec_batch with one Newton step each, H_old from lcodec_hessian_batches
     * Dr batch gradients (no FD banks: the Fisher fallback), λ = l2_reg, the noise's
     * (ε, δ) of the CIFAR scripts, the reference's val_gap_skip guard (< 0: off) */
    int lcodec_perturbations, lcodec_batch, lcodec_hessian_batches;
    double lcodec_l2_reg, lcodec_epsilon, lcodec_delta, lcodec_guard_gap;
    /* Erm-Ktp (§4.7, §9): (a) ERM training for ermktp_erm_epochs with the mask's SGD
     * (lr 0.1, momentum 0.9, wd 5e-4), λ_reg 1e-3, mask epochs e % 3 >= 2; (b) KTP
     * distillation on Dr for ermktp_ktp_epochs at ermktp_ktp_lr (AdamW, LAVIS schedule) */
    int ermktp_erm_epochs, ermktp_ktp_epochs, ermktp_mask_period, ermktp_mask_epoch_min;
    double ermktp_mask_lr, ermktp_reg, ermktp_ktp_lr;
} Recipe;

/* The row for a model config name ("albef-tiny", "albef-base") and a task
 * name ("flickr30k"). 0, or -1 with error_set naming the pair and listing the
 * rows there are. */
int recipe_find(const char *model, const char *task, Recipe *out);
/* recipe_find for a pair the caller knows is in the table (tests); stops otherwise. */
Recipe recipe_get(const char *model, const char *task);

#endif
