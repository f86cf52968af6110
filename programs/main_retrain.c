/* bin/retrain: the gold standard (spec/unlearning_methods.md §4.1): the
 * original recipe on Dr only, from the same initialisation as the original
 * model (--init's pretrained weights, else model_init with the same seed),
 * then the common evaluation. */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "programs/run_program.h"

/* --lr and --epochs set the training recipe, which the original (when trained
 * here rather than given with --original) shares: Retrain is the original's
 * recipe on Dr. */
static const RunKnob RETRAIN_KNOBS[] = {RUN_KNOB_DOUBLE("lr", init_lr), RUN_KNOB_INT("epochs", epochs)};

int main(int argc, char **argv) {
    RunContext ctx = {0};
    run_program_start(&ctx, "retrain",
                      "Retrain: trains the model from its initialisation on Dr only (the gold standard every "
                      "unlearning method is compared with).",
                      NULL, 0, RETRAIN_KNOBS, CLI_COUNT(RETRAIN_KNOBS), argc, argv);
    if (ctx.flags.fusion_only) fatal("--fusion-only: Retrain has no -F variant (the paper marks it N/A)");

    const Task *t = &ctx.task;
    TaskModel retrained;
    log_info("retraining on Dr: %lld pairs", (long long)ctx.split.n_dr);
    double seconds; /* the training's, also when the model comes from the cache the other programs share */
    error_exit_if(run_retrain_model(&ctx, &retrained, &seconds));
    /* The original is needed even without its row: the MI attacker is trained
     * on its outputs and P_before is its Df probability (§6.3 item 2). */
    TaskModel original;
    error_exit_if(run_original_model(&ctx, &original));
    run_program_finish(&ctx, "retrain", &original, &retrained, seconds);
    t->model_free(t, &original);
    t->model_free(t, &retrained);
    run_free(&ctx);
    return 0;
}
