/* Training and unlearning hyperparameters: the one place their defaults live
 * (DESIGN.md "One truth per number"). Programs resolve a recipe by model
 * name, let flags override single fields, and echo the result in config.json.
 *
 * albef-base follows the paper's setting (spec/albef_blip.md §5.1 "ALBEF
 * Flickr"; spec/unlearning_methods.md §3.2, §5.3). albef-tiny is this
 * project's CPU demo: a model trained from scratch on the synthetic world,
 * which needs a larger learning rate and a warm-up, and a small k_test so that
 * the ITM rerank of evaluation takes seconds. */
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
} Recipe;

/* The recipe for a model config name ("albef-tiny", "albef-base"); an unknown
 * name gets albef-base's. */
Recipe recipe_for_model(const char *model_name);

#endif
