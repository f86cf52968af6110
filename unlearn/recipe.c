#include "unlearn/recipe.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const char *model, *task;
    Recipe recipe;
} RecipeRow;

static const RecipeRow RECIPES[] = {
    /* 12 epochs of the long-tail world (data/synth_image_text.h): with the config's dropout and
     * momentum distillation off, the model fits its training pairs beyond unseen ones as a
     * fine-tuned ALBEF does (README "First minutes"). */
    {"albef-tiny", "flickr30k",
     {
         .init_lr = 5e-4, .min_lr = 1e-5, .warmup_lr = 1e-5, .warmup_steps = 100,
         .weight_decay = 0.02, .epochs = 12, .batch_size = 32, .augment = 0,
         .batch_eval = 64, .k_test = 16,
         /* The paper's MultiDelete lr (the albef-base row), not tuned for this model */
         .unlearn_lr = 1e-5, .unlearn_epochs = 5, .unlearn_batch_df = 16,
         .finetune_lr = 5e-4, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         /* ascent/UL steps large enough to move a model trained from scratch at 5e-4 */
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 5e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-4, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-3, .ul_max_epochs = 20, .mlm_head_epochs = 2,
         /* L-codec as albef-base; Erm-Ktp's phases take the tiny training length and lr */
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 8, .ermktp_ktp_epochs = 8, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 5e-4,
     }},
    /* ALBEF Flickr30K retrieval (spec/albef_blip.md §5.1): lr 1e-5 -> 1e-6, wd 0.02, 5 epochs,
     * batch 32, k_test 128; MultiDelete: the same lr, 5 epochs, half-batches of 16
     * (spec/unlearning_methods.md §5.3). */
    {"albef-base", "flickr30k",
     {
         .init_lr = 1e-5, .min_lr = 1e-6, .warmup_lr = 1e-5, .warmup_steps = 0,
         .weight_decay = 0.02, .epochs = 5, .batch_size = 32, .augment = 1,
         .batch_eval = 64, .k_test = 128,
         .unlearn_lr = 1e-5, .unlearn_epochs = 5, .unlearn_batch_df = 16,
         /* §4.2 FineTune: the config lr ×1, one epoch (§9 [G]); §4.3 NegGrad: FineTune's lr, one
          * epoch, stop at the chance-level loss; §4.5 DtD: no descent, T = 1, ε = 5 (S1/S5); §4.8 UL:
          * lr 5e-5, ≤ 20 updates (S8), ALBEF's MLM masking 0.15 */
         .finetune_lr = 1e-5, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 1e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-5, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-4, .ul_max_epochs = 20, .mlm_head_epochs = 1,
         /* §4.6 L-codec: P = 32 (cheap FOCI, "P = 32-100"), B = batch_train, λ = 0.01, ε = 0.1,
          * δ = 0.01 (S6 CIFAR scripts), val_gap_skip 0.05 (S6 multi_scrub); §4.7 Erm-Ktp: S7's
          * mask SGD lr 0.1, λ_reg 1e-3, mask_period 3, mask_epoch_min 2; both phases with the
          * training recipe's length and lr (§3) */
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 5, .ermktp_ktp_epochs = 5, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 1e-5,
     }},
    /* The tiny classification models on the synthetic world: the tiny training recipe; MultiDelete
     * with Df half-batches of 16 (VE) and 8 (NLVR2), spec/unlearning_methods.md §5.3. */
    {"albef-tiny-ve", "snli_ve",
     {
         .init_lr = 5e-4, .min_lr = 1e-5, .warmup_lr = 1e-5, .warmup_steps = 100,
         .weight_decay = 0.02, .epochs = 8, .batch_size = 32, .augment = 0,
         .batch_eval = 64, .k_test = 1,
         .unlearn_lr = 1e-5, .unlearn_epochs = 5, .unlearn_batch_df = 16,
         .finetune_lr = 5e-4, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         /* NegGrad, DtD, UL, L-codec and Erm-Ktp as albef-tiny's retrieval row (the same training recipe) */
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 5e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-4, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-3, .ul_max_epochs = 20, .mlm_head_epochs = 2,
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 8, .ermktp_ktp_epochs = 8, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 5e-4,
     }},
    /* NLVR2 has a third of VE's items per image (one true and one false pair per image): 24 epochs give
     * it VE's 1,200 steps on the default world, which 8 epochs leave near chance (bench/README.md). */
    {"albef-tiny-nlvr", "nlvr2",
     {
         .init_lr = 5e-4, .min_lr = 1e-5, .warmup_lr = 1e-5, .warmup_steps = 100,
         .weight_decay = 0.02, .epochs = 24, .batch_size = 32, .augment = 1,
         .batch_eval = 64, .k_test = 1,
         .unlearn_lr = 1e-5, .unlearn_epochs = 5, .unlearn_batch_df = 8,
         .finetune_lr = 5e-4, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         /* NegGrad, DtD, UL, L-codec and Erm-Ktp as albef-tiny's retrieval row (the same training recipe) */
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 5e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-4, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-3, .ul_max_epochs = 20, .mlm_head_epochs = 2,
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 8, .ermktp_ktp_epochs = 8, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 5e-4,
     }},
    /* ALBEF SNLI-VE (spec/albef_blip.md §5.1): lr 2e-5 -> 0, no warm-up, wd 0.05, 3 epochs, batch 32;
     * NLVR2: lr 2e-5 -> 1e-6 after 650 warm-up steps from 1e-5, wd 0.02, 5 epochs, batch 16.
     * MultiDelete: the same lr and epochs, Df half-batches of 16 and 8 (spec/unlearning_methods.md §5.3). */
    {"albef-base-ve", "snli_ve",
     {
         .init_lr = 2e-5, .min_lr = 0, .warmup_lr = 2e-5, .warmup_steps = 0,
         .weight_decay = 0.05, .epochs = 3, .batch_size = 32, .augment = 1,
         .batch_eval = 64, .k_test = 1,
         .unlearn_lr = 2e-5, .unlearn_epochs = 3, .unlearn_batch_df = 16,
         .finetune_lr = 2e-5, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         /* §4.3 NegGrad at FineTune's lr, §4.5 DtD as S1/S5, §4.8 UL and §4.6 L-codec as albef-base's
          * retrieval row, §4.7 Erm-Ktp with the training length and lr */
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 2e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-5, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-4, .ul_max_epochs = 20, .mlm_head_epochs = 1,
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 3, .ermktp_ktp_epochs = 3, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 2e-5,
     }},
    {"albef-base-nlvr", "nlvr2",
     {
         .init_lr = 2e-5, .min_lr = 1e-6, .warmup_lr = 1e-5, .warmup_steps = 650,
         .weight_decay = 0.02, .epochs = 5, .batch_size = 16, .augment = 1,
         .batch_eval = 64, .k_test = 1,
         .unlearn_lr = 2e-5, .unlearn_epochs = 5, .unlearn_batch_df = 8,
         .finetune_lr = 2e-5, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         /* §4.3 NegGrad at FineTune's lr, §4.5 DtD as S1/S5, §4.8 UL and §4.6 L-codec as albef-base's
          * retrieval row, §4.7 Erm-Ktp with the training length and lr */
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 2e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-5, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-4, .ul_max_epochs = 20, .mlm_head_epochs = 1,
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 5, .ermktp_ktp_epochs = 5, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 2e-5,
     }},
    /* PGR graph-text (spec/pgr_graph_text.md §4.3; no PGR numbers in the paper, §1.6): GTNN's weight
     * decay 1e-4 and batch 32; lr 3e-4 with the cosine, from scratch, 4 epochs (trained on the
     * shipped corpus: validation accuracy peaks at epochs 3-5 of 8); the unlearning rows take the tiny
     * ALBEF row's lengths with lrs scaled to this training lr. */
    {"pgr-tiny", "pgr",
     {
         .init_lr = 3e-4, .min_lr = 1e-5, .warmup_lr = 3e-4, .warmup_steps = 0,
         .weight_decay = 1e-4, .epochs = 4, .batch_size = 32, .augment = 0,
         .batch_eval = 64, .k_test = 1,
         .unlearn_lr = 3e-5, .unlearn_epochs = 5, .unlearn_batch_df = 16,
         .finetune_lr = 3e-4, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 3e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 3e-4, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-3, .ul_max_epochs = 20, .mlm_head_epochs = 2,
         .lcodec_perturbations = 32, .lcodec_batch = 32, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 4, .ermktp_ktp_epochs = 4, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 3e-4,
     }},
    /* The paper-size PGR model (BERT-base text side, GTNN's GCN 300 -> 100; spec/pgr_graph_text.md
     * §2.5, §4.3): GTNN's Adam lr 1e-5 and weight decay 1e-4, batch 64 (§2.6), a BERT fine-tuning
     * length of 10 epochs (GTNN's 100 select an epoch on validation F1; the loop here keeps the last);
     * MultiDelete at the training lr with Df half-batches of 32 (spec/unlearning_methods.md §5.3);
     * the baselines as albef-base's, their lrs the training lr. */
    {"pgr-base", "pgr",
     {
         .init_lr = 1e-5, .min_lr = 1e-6, .warmup_lr = 1e-5, .warmup_steps = 0,
         .weight_decay = 1e-4, .epochs = 10, .batch_size = 64, .augment = 0,
         .batch_eval = 64, .k_test = 1,
         .unlearn_lr = 1e-5, .unlearn_epochs = 5, .unlearn_batch_df = 32,
         .finetune_lr = 1e-5, .finetune_lr_mult = 1.0, .finetune_epochs = 1,
         .neggrad_epochs = 1, .neggrad_stop_at_chance = 1, .neggrad_lr = 1e-5,
         .dtd_descent_epochs = 0, .dtd_T = 1, .dtd_epsilon = 5.0,
         .ul_lr = 5e-5, .ul_mask_prob = 0.15, .mlm_head_lr = 1e-4, .ul_max_epochs = 20, .mlm_head_epochs = 1,
         .lcodec_perturbations = 32, .lcodec_batch = 64, .lcodec_hessian_batches = 4,
         .lcodec_l2_reg = 0.01, .lcodec_epsilon = 0.1, .lcodec_delta = 0.01, .lcodec_guard_gap = 0.05,
         .ermktp_erm_epochs = 10, .ermktp_ktp_epochs = 10, .ermktp_mask_period = 3, .ermktp_mask_epoch_min = 2,
         .ermktp_mask_lr = 0.1, .ermktp_reg = 1e-3, .ermktp_ktp_lr = 1e-5,
     }},
};

#define N_RECIPES ((int)(sizeof RECIPES / sizeof RECIPES[0]))

int recipe_find(const char *model, const char *task, Recipe *out) {
    for (int k = 0; k < N_RECIPES; k++)
        if (strcmp(RECIPES[k].model, model) == 0 && strcmp(RECIPES[k].task, task) == 0) {
            *out = RECIPES[k].recipe;
            return 0;
        }
    char rows[512] = "";
    for (int k = 0; k < N_RECIPES; k++) {
        size_t used = strlen(rows);
        snprintf(rows + used, sizeof rows - used, "%s%s on %s", k ? ", " : "", RECIPES[k].model, RECIPES[k].task);
    }
    return error_set("no recipe for model \"%s\" on task \"%s\" (unlearn/recipe.c has: %s)", model, task, rows);
}

Recipe recipe_get(const char *model, const char *task) {
    Recipe r;
    CHECK(recipe_find(model, task, &r) == 0, "%s", error_message());
    return r;
}
