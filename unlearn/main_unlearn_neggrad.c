/* bin/unlearn_neggrad: NegGrad (spec/unlearning_methods.md §4.3): from the
 * original model θ0, gradient ascent on the task loss (ITC + ITM) over Df
 * for one epoch, stopped early once a Df batch's task loss reaches that of
 * uniform predictions (--stop-loss), then the common evaluation.
 * --fusion-only gives NegGrad-F (§2.3). */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "unlearn/neggrad.h"
#include "unlearn/run_driver.h"
#include "unlearn/run_eval.h"

#define OWN_FLAGS 2

int main(int argc, char **argv) {
    RunContext ctx = {0};
    double stop_loss;
    int eval_original;
    CliFlag flags[RUN_COMMON_FLAGS + OWN_FLAGS];
    run_common_flags(&ctx.flags, flags);
    CliFlag own[OWN_FLAGS] = {
        CLI_FLAG_FLOAT("stop-loss", &stop_loss, "-1",
                       "stop the ascent before a step whose Df batch task loss is >= this; -1: the chance level "
                       "ln(batch + queue) + ln 2 (the loss of uniform predictions); 0: no rule (the spec's unguarded "
                       "§4.3 form; the one-epoch budget still caps it)"),
        CLI_FLAG_BOOL("eval-original", &eval_original, "true", "also evaluate the original model for comparison"),
    };
    for (int k = 0; k < OWN_FLAGS; k++) flags[RUN_COMMON_FLAGS + k] = own[k];
    CliSpec spec = {"unlearn_neggrad",
                    "NegGrad: gradient ascent on the task loss (ITC + ITM) over the deleted pairs Df, one epoch at "
                    "the recipe's learning rate (--lr, --epochs), with a stopping rule, then reports Dt, Df and time.",
                    flags, RUN_COMMON_FLAGS + OWN_FLAGS};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    error_exit_if(run_setup(&ctx, "unlearn_neggrad", &spec));

    Albef original, unlearned;
    error_exit_if(run_original_model(&ctx, &original));
    albef_init(&unlearned, &ctx.cfg, (uint64_t)ctx.flags.seed);
    params_copy_values(&unlearned.params, &original.params);
    params_copy_values(&unlearned.momentum, &original.momentum);
    if (ctx.flags.fusion_only) log_info("-F: %d trainable tensors (fusion layers + ITM head)", albef_set_fusion_only(&unlearned));

    NegGradRun run = neggrad_run_from_recipe(&ctx.recipe, &ctx.cfg, ctx.flags.lr, ctx.flags.epochs, (uint64_t)ctx.flags.seed);
    if (stop_loss >= 0) run.stop_loss = stop_loss;
    log_info("gradient ascent on %lld Df pairs: %d epoch(s) (at most %lld steps), lr %g, stop at Df batch loss >= %g",
             (long long)ctx.split.n_df, run.epochs, (long long)(ctx.split.n_df / run.batch_size) * run.epochs, run.lr,
             run.stop_loss);
    NegGradStats stats;
    error_exit_if(neggrad_unlearn(&unlearned, &ctx.train, ctx.split.df, ctx.split.n_df, &run, &stats));
    log_info("ascended in %.1f s: %lld of %lld steps (%s); Df task loss %.4f -> %.4f, ITM match rate %.3f -> %.3f",
             stats.seconds, (long long)stats.steps, (long long)stats.max_steps,
             stats.stopped ? "stopped by the rule" : "epoch budget spent", stats.first_loss, stats.last_loss,
             stats.first_itm_rate, stats.last_itm_rate);
    char path[1100];
    error_exit_if(albef_save(&unlearned, run_path(&ctx, "model.safetensors", path, sizeof path)));

    RunEvaluation ev;
    run_evaluation_init(&ev, &ctx, "neggrad");
    if (eval_original) error_exit_if(run_evaluation_add(&ev, &ctx, &original, "original", -1.0));
    error_exit_if(run_evaluation_add(&ev, &ctx, &unlearned, ctx.flags.fusion_only ? "neggrad-F" : "neggrad",
                                     stats.seconds));
    error_exit_if(run_evaluation_finish(&ev, &ctx));
    run_evaluation_free(&ev);
    albef_free(&unlearned);
    albef_free(&original);
    run_free(&ctx);
    return 0;
}
