/* bin/unlearn_dtd: Descent-to-Delete (spec/unlearning_methods.md §4.5): from
 * the original model θ0, optional descent epochs on Dr (FineTune's loop), then
 * Gaussian noise of Thm 3.1's σ on every trainable parameter (the fusion set
 * with --fusion-only: DtD-F), printing σ and every input of its formula; then
 * the common evaluation. */
#include <stdlib.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "programs/run_program.h"
#include "unlearn/dtd.h"
#include "unlearn/finetune.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    int descent_epochs, T, n_flag;
    double epsilon, delta;
    CliFlag own[] = {
        CLI_FLAG_INT("descent-epochs", &descent_epochs, "-1",
                     "FineTune epochs on Dr before the noise (-1: the recipe's 0, as the released code, which "
                     "takes no descent step; spec §9 [G]; the paper says \"a few more steps\")"),
        CLI_FLAG_INT("T", &T, "-1", "descent iterations Thm 3.1 assumes (-1: the recipe's 1, as the released code)"),
        CLI_FLAG_FLOAT("epsilon", &epsilon, "-1", "privacy epsilon of Thm 3.1 (-1: the recipe's 5, as S5/S1)"),
        CLI_FLAG_FLOAT("delta", &delta, "-1", "privacy delta of Thm 3.1 (-1: 1/n^2, as S5/S1)"),
        CLI_FLAG_INT("n", &n_flag, "-1",
                     "dataset size n of Thm 3.1 (-1: every training pair of D, Df included, as the released code)"),
    };
    const RunKnob knobs[] = {RUN_KNOB_DOUBLE("lr", finetune_lr)}; /* the optional descent's */
    run_program_start(&ctx, "unlearn_dtd",
                    "DtD (Descent-to-Delete): optional descent on Dr, then Gaussian noise N(0, sigma^2) with sigma "
                    "from Neel et al. Thm 3.1 (m = wd, M = 4 - wd, L = 1 + wd) on every trainable parameter; "
                    "reports Dt, Df and time. Noise at this scale destroys the full model, as in the paper.",
                      own, CLI_COUNT(own), knobs, CLI_COUNT(knobs), argc, argv);
    if (descent_epochs < 0) descent_epochs = ctx.recipe.dtd_descent_epochs;
    if (T < 0) T = ctx.recipe.dtd_T;
    if (epsilon < 0) epsilon = ctx.recipe.dtd_epsilon;
    int64_t n = n_flag > 0 ? n_flag : ctx.task.n_items[TASK_SPLIT_TRAIN];

    DtdSigmaInputs in = dtd_sigma_inputs(n, T, ctx.recipe.weight_decay, epsilon, delta);
    double sigma = dtd_sigma(&in);
    if (sigma < 0) error_exit_if(-1);
    double gamma = (in.M - in.m) / (in.M + in.m);
    log_info("DtD sigma = %.6g from n = %.0f, T = %d, m = wd = %g, M = 4 - wd = %g, L = 1 + wd = %g, gamma = %.6g, "
             "epsilon = %g, delta = %.6g", sigma, in.n, in.T, in.m, in.M, in.L, gamma, in.epsilon, in.delta);
    printf("DtD sigma = %.6g  (n = %.0f, T = %d, m = %g, M = %g, L = %g, gamma = %.6g, epsilon = %g, delta = %.6g)\n",
           sigma, in.n, in.T, in.m, in.M, in.L, gamma, in.epsilon, in.delta);

    TaskModel original, unlearned;
    run_program_models(&ctx, &original, &unlearned);

    double t0 = clock_seconds();
    if (descent_epochs > 0) {
        FineTuneRun run = finetune_run_from_recipe(&ctx.recipe, 1.0, (uint64_t)ctx.flags.seed);
        run.epochs = descent_epochs;
        log_info("DtD descent: %d epoch(s) on %lld Dr pairs at lr %g", run.epochs, (long long)ctx.split.n_dr, run.lr);
        TrainStats stats;
        error_exit_if(finetune_unlearn(&ctx.task, &unlearned, ctx.split.dr, ctx.split.n_dr, &run, &stats));
    }
    int64_t noised = dtd_add_noise(unlearned.params, sigma, (uint64_t)ctx.flags.seed);
    double seconds = clock_seconds() - t0;
    log_info("DtD: noise on %lld of %lld parameter values in %.2f s", (long long)noised,
             (long long)unlearned.params->total, seconds);
    cJSON *dtd = cJSON_AddObjectToObject(ctx.config, "dtd");
    cJSON_AddNumberToObject(dtd, "sigma", sigma);
    cJSON_AddNumberToObject(dtd, "n", in.n);
    cJSON_AddNumberToObject(dtd, "T", in.T);
    cJSON_AddNumberToObject(dtd, "m", in.m);
    cJSON_AddNumberToObject(dtd, "M", in.M);
    cJSON_AddNumberToObject(dtd, "L", in.L);
    cJSON_AddNumberToObject(dtd, "gamma", gamma);
    cJSON_AddNumberToObject(dtd, "epsilon", in.epsilon);
    cJSON_AddNumberToObject(dtd, "delta", in.delta);
    cJSON_AddNumberToObject(dtd, "descent_epochs", descent_epochs);
    cJSON_AddNumberToObject(dtd, "noised_values", (double)noised);
    run_program_finish(&ctx, "dtd", &original, &unlearned, seconds);
    ctx.task.model_free(&ctx.task, &unlearned);
    ctx.task.model_free(&ctx.task, &original);
    run_free(&ctx);
    return 0;
}
