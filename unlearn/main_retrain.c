/* bin/retrain: the gold standard (spec/unlearning_methods.md §4.1): the
 * original recipe on Dr only, from the same initialisation as the original
 * model (albef_init with the same seed), then the common evaluation. */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "unlearn/run_driver.h"
#include "unlearn/run_eval.h"
#include "unlearn/train_loop.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    int eval_original;
    CliFlag flags[RUN_COMMON_FLAGS + 1];
    run_common_flags(&ctx.flags, flags);
    flags[RUN_COMMON_FLAGS] = (CliFlag)CLI_FLAG_BOOL("eval-original", &eval_original, "true",
                                                     "also evaluate the original model for comparison");
    CliSpec spec = {"retrain", "Retrain: trains the model from its initialisation on Dr only (the gold standard "
                               "every unlearning method is compared with).",
                    flags, RUN_COMMON_FLAGS + 1};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    error_exit_if(run_setup(&ctx, "retrain", &spec));
    if (ctx.flags.fusion_only) fatal("--fusion-only: Retrain has no -F variant (the paper marks it N/A)");
    if (ctx.flags.lr > 0) ctx.recipe.init_lr = ctx.flags.lr;
    if (ctx.flags.epochs > 0) ctx.recipe.epochs = ctx.flags.epochs;

    Albef retrained;
    albef_init(&retrained, &ctx.cfg, (uint64_t)ctx.flags.seed);
    log_info("retraining on Dr: %lld pairs", (long long)ctx.split.n_dr);
    TrainStats stats;
    error_exit_if(albef_train_retrieval(&retrained, &ctx.train, ctx.split.dr, ctx.split.n_dr, &ctx.recipe,
                                        (uint64_t)ctx.flags.seed, &stats));
    char path[1100];
    error_exit_if(albef_save(&retrained, run_path(&ctx, "model.safetensors", path, sizeof path)));

    RunEvaluation ev;
    run_evaluation_init(&ev, &ctx, "retrain");
    /* The original is needed even without its row: the MI attacker is trained
     * on its outputs and P_before is its Df probability (§6.3 item 2). */
    Albef original;
    error_exit_if(run_original_model(&ctx, &original));
    error_exit_if(run_evaluation_set_original(&ev, &ctx, &original));
    if (eval_original) error_exit_if(run_evaluation_add(&ev, &ctx, &original, "original", -1.0));
    albef_free(&original);
    error_exit_if(run_evaluation_add(&ev, &ctx, &retrained, "retrain", stats.seconds));
    error_exit_if(run_evaluation_finish(&ev, &ctx));
    run_evaluation_free(&ev);
    albef_free(&retrained);
    run_free(&ctx);
    return 0;
}
