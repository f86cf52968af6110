/* bin/unlearn_neggrad: NegGrad (spec/unlearning_methods.md §4.3): from the
 * original model θ0, gradient ascent on the task loss (ITC + ITM) over Df
 * for one epoch, stopped early once a Df batch's task loss reaches that of
 * uniform predictions (--stop-loss), then the common evaluation.
 * --fusion-only gives NegGrad-F (§2.3). */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "programs/run_program.h"
#include "unlearn/neggrad.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    double stop_loss;
    CliFlag own[] = {
        CLI_FLAG_FLOAT("stop-loss", &stop_loss, "-1",
                       "stop the ascent before a step whose Df batch task loss is >= this; -1: the chance level "
                       "ln(batch + queue) + ln 2 (the loss of uniform predictions); 0: no rule (the spec's unguarded "
                       "§4.3 form; the one-epoch budget still caps it)"),
    };
    const RunKnob knobs[] = {RUN_KNOB_DOUBLE("lr", neggrad_lr), RUN_KNOB_INT("epochs", neggrad_epochs)};
    run_program_start(&ctx, "unlearn_neggrad",
                    "NegGrad: gradient ascent on the task loss (ITC + ITM) over the deleted pairs Df, one epoch at "
                    "the recipe's learning rate (--lr, --epochs), with a stopping rule, then reports Dt, Df and time.",
                      own, CLI_COUNT(own), knobs, CLI_COUNT(knobs), argc, argv);

    TaskModel original, unlearned;
    run_program_models(&ctx, &original, &unlearned);

    NegGradRun run = neggrad_run_from_recipe(&ctx.recipe, &ctx.task, &unlearned, (uint64_t)ctx.flags.seed);
    if (stop_loss >= 0) run.stop_loss = stop_loss;
    log_info("gradient ascent on %lld Df pairs: %d epoch(s) (at most %lld steps), lr %g, stop at Df batch loss >= %g",
             (long long)ctx.split.n_df, run.epochs, (long long)(ctx.split.n_df / run.batch_size) * run.epochs, run.lr,
             run.stop_loss);
    NegGradStats stats;
    error_exit_if(neggrad_unlearn(&ctx.task, &unlearned, ctx.split.df, ctx.split.n_df, &run, &stats));
    log_info("ascended in %.1f s: %lld of %lld steps (%s); Df task loss %.4f -> %.4f, accuracy %.3f -> %.3f",
             stats.seconds, (long long)stats.steps, (long long)stats.max_steps,
             stats.stopped ? "stopped by the rule" : "epoch budget spent", stats.first_loss, stats.last_loss,
             stats.first_accuracy, stats.last_accuracy);
    run_program_finish(&ctx, "neggrad", &original, &unlearned, stats.seconds);
    ctx.task.model_free(&ctx.task, &unlearned);
    ctx.task.model_free(&ctx.task, &original);
    run_free(&ctx);
    return 0;
}
