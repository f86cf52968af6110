#include "programs/run_program.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "models/task_retrieval.h"
#include "programs/run_eval.h"

/* One program per process: the flag table and spec live as long as it runs
 * (run_setup echoes them into config.json). */
static CliFlag program_flags[RUN_COMMON_FLAGS + RUN_PROGRAM_MAX_OWN_FLAGS];
static CliSpec program_spec;

void run_program_start(RunContext *ctx, const char *program, const char *description, const CliFlag *own,
                       int n_own, const RunKnob *knobs, int n_knobs, int argc, char **argv) {
    CHECK(n_own >= 0 && n_own <= RUN_PROGRAM_MAX_OWN_FLAGS, "%s: %d own flags", program, n_own);
    run_common_flags(&ctx->flags, program_flags);
    for (int k = 0; k < n_own; k++) program_flags[RUN_COMMON_FLAGS + k] = own[k];
    program_spec = (CliSpec){program, description, program_flags, RUN_COMMON_FLAGS + n_own};
    int rc = cli_parse(&program_spec, argc, argv);
    if (rc == 1) exit(0);
    error_exit_if(rc);
    if (ctx->check_flags) error_exit_if(ctx->check_flags());
    rc = run_setup(ctx, program, &program_spec, knobs, n_knobs);
    error_exit_if(rc);
    if (rc == RUN_SETUP_DONE_BEFORE) {
        printf("%s: %s holds a complete run with this exact configuration (flags, data, deletion list, code); "
               "its results are in metrics.json and report.md there. Nothing to do.\n",
               program, ctx->out_dir);
        exit(0);
    }
}

void run_program_models(RunContext *ctx, TaskModel *original, TaskModel *unlearned) {
    const Task *t = &ctx->task;
    error_exit_if(run_original_model(ctx, original));
    error_exit_if(t->model_init(t, unlearned, (uint64_t)ctx->flags.seed));
    run_model_to_device(ctx, unlearned);
    task_model_copy(unlearned, original);
    if (ctx->flags.fusion_only)
        log_info("-F: %d trainable tensors (the fusion layers and the task head)", t->model_set_fusion_only(t, unlearned));
}

void run_program_finish(RunContext *ctx, const char *method, TaskModel *original, TaskModel *unlearned,
                        double seconds) {
    char path[1100], row[64];
    error_exit_if(ctx->task.model_save(&ctx->task, unlearned, run_path(ctx, "model.safetensors", path, sizeof path)));
    snprintf(row, sizeof row, "%s%s", method, ctx->flags.fusion_only ? "-F" : "");
    RunEvaluation ev;
    run_evaluation_init(&ev, ctx, method);
    error_exit_if(run_evaluation_set_original(&ev, ctx, original)); /* MI attacker and P_before (§6.3) */
    if (ctx->flags.eval_original) error_exit_if(run_evaluation_add(&ev, ctx, original, "original", -1.0));
    /* Retrain beside, so that the verdict can say whether the method moved toward it */
    if (run_wants_retrain(ctx) && strcmp(method, "retrain") != 0) {
        TaskModel retrained;
        double retrain_seconds;
        error_exit_if(run_retrain_model(ctx, &retrained, &retrain_seconds));
        error_exit_if(run_evaluation_add(&ev, ctx, &retrained, "retrain", retrain_seconds));
        ctx->task.model_free(&ctx->task, &retrained);
    }
    error_exit_if(run_evaluation_add(&ev, ctx, unlearned, row, seconds));
    error_exit_if(run_evaluation_finish(&ev, ctx));
    run_evaluation_free(&ev);
}
