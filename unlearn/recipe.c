#include "unlearn/recipe.h"

#include <string.h>

Recipe recipe_for_model(const char *model_name) {
    if (strcmp(model_name, "albef-tiny") == 0) {
        return (Recipe){
            .init_lr = 5e-4, .min_lr = 1e-5, .warmup_lr = 1e-5, .warmup_steps = 100,
            .weight_decay = 0.02, .epochs = 8, .batch_size = 32, .augment = 0,
            .batch_eval = 64, .k_test = 16,
            .unlearn_lr = 5e-5, .unlearn_epochs = 5, .unlearn_batch_df = 16,
        };
    }
    /* ALBEF Flickr30K retrieval (spec/albef_blip.md §5.1): lr 1e-5 -> 1e-6,
     * wd 0.02, 5 epochs, batch 32, k_test 128; MultiDelete: the same lr, 5
     * epochs, half-batches of 16 (spec/unlearning_methods.md §5.3). */
    return (Recipe){
        .init_lr = 1e-5, .min_lr = 1e-6, .warmup_lr = 1e-5, .warmup_steps = 0,
        .weight_decay = 0.02, .epochs = 5, .batch_size = 32, .augment = 1,
        .batch_eval = 64, .k_test = 128,
        .unlearn_lr = 1e-5, .unlearn_epochs = 5, .unlearn_batch_df = 16,
    };
}
