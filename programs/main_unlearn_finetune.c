/* bin/unlearn_finetune: FineTune (spec/unlearning_methods.md §4.2): from the
 * original model θ0, continues training on Dr only (never Df) at a constant
 * learning rate init_lr × --lr-mult, then evaluates θ0 and the result side by
 * side. --fusion-only gives FineTune-F (only the fusion layers and ITM head
 * change, §2.3). With no arguments it runs the embedded default world. */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "programs/run_program.h"
#include "unlearn/finetune.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    double lr_mult;
    CliFlag own[] = {
        CLI_FLAG_FLOAT("lr-mult", &lr_mult, "1",
                       "learning-rate multiplier on the recipe's init_lr (or --lr): the paper's \"larger learning "
                       "rate\" is unspecified; 1 matches the released code (spec §4.2, §9 [G]; sweep 2, 5, 10)"),
    };
    const RunKnob knobs[] = {RUN_KNOB_DOUBLE("lr", finetune_lr), RUN_KNOB_INT("epochs", finetune_epochs)};
    run_program_start(&ctx, "unlearn_finetune",
                    "FineTune: continues training the original ALBEF on the retained pairs Dr only (one epoch at a "
                    "constant learning rate, --epochs to change), never reading Df, then reports Dt, Df and time. "
                    "The ITC queue starts fresh, since the original's holds features of Df pairs.",
                      own, CLI_COUNT(own), knobs, CLI_COUNT(knobs), argc, argv);
    if (!(lr_mult > 0)) fatal("--lr-mult %g: must be positive", lr_mult);

    TaskModel original, unlearned;
    run_program_models(&ctx, &original, &unlearned);

    FineTuneRun run = finetune_run_from_recipe(&ctx.recipe, lr_mult, (uint64_t)ctx.flags.seed);
    log_info("fine-tuning on %lld Dr pairs (Df: %lld pairs, not read): %d epoch(s), constant lr %g (x%g)",
             (long long)ctx.split.n_dr, (long long)ctx.split.n_df, run.epochs, run.lr, lr_mult);
    TrainStats stats;
    error_exit_if(finetune_unlearn(&ctx.task, &unlearned, ctx.split.dr, ctx.split.n_dr, &run, &stats));
    log_info("fine-tuned in %.1f s (%lld steps); Dr loss %.4f -> %.4f", stats.seconds, (long long)stats.steps,
             stats.first_loss, stats.last_loss);
    run_program_finish(&ctx, "finetune", &original, &unlearned, stats.seconds);
    ctx.task.model_free(&ctx.task, &unlearned);
    ctx.task.model_free(&ctx.task, &original);
    run_free(&ctx);
    return 0;
}
