/* bin/evaluate: Dt, Df, Df-vs-unseen and the MI ratio of any checkpoints
 * against the same Df/Dr split the method programs use (same --data,
 * --df-size/--df-list, --seed), written as a run directory. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/task_retrieval.h"
#include "programs/run_eval.h"
#include "programs/run_program.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    const char *checkpoints, *names;
    CliFlag own[] = {
        CLI_FLAG_STRING("checkpoints", &checkpoints, NULL, "comma-separated checkpoints to evaluate (required)"),
        CLI_FLAG_STRING("names", &names, NULL, "comma-separated row names (default: model1, model2, ...)"),
    };
    run_program_start(&ctx, "evaluate",
                      "Evaluates checkpoints on Dt (test retrieval), Df (deleted pairs vs Dr and vs unseen pairs) "
                      "and membership inference (MI ratio) for one deletion request. The MI attacker is trained on "
                      "the original model: --original when given, else the first checkpoint (then list the "
                      "original first).",
                      own, CLI_COUNT(own), NULL, 0, argc, argv);
    if (!checkpoints) fatal("--checkpoints: give at least one checkpoint (see --help)");
    const Task *t = &ctx.task;
    RunEvaluation ev;
    run_evaluation_init(&ev, &ctx, "evaluate");
    /* §6.3: the attacker is trained once on θ0. No training of an original
     * here (the program only evaluates): --original, or the first checkpoint. */
    if (ctx.flags.original) {
        TaskModel original;
        error_exit_if(t->model_init(t, &original, (uint64_t)ctx.flags.seed));
        error_exit_if(t->model_load(t, &original, ctx.flags.original));
        run_model_to_device(&ctx, &original);
        error_exit_if(run_evaluation_set_original(&ev, &ctx, task_albef(&original)));
        t->model_free(t, &original);
    }
    char *ckpts = strdup(checkpoints), *labels = names ? strdup(names) : NULL;
    char *save_c = NULL, *save_n = NULL;
    int k = 0;
    for (char *c = strtok_r(ckpts, ",", &save_c); c; c = strtok_r(NULL, ",", &save_c), k++) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "model%d", k + 1);
        char *name = labels ? strtok_r(k == 0 ? labels : NULL, ",", &save_n) : NULL;
        TaskModel m;
        error_exit_if(t->model_init(t, &m, (uint64_t)ctx.flags.seed));
        error_exit_if(t->model_load(t, &m, c));
        run_model_to_device(&ctx, &m);
        if (k == 0 && !ctx.flags.original) error_exit_if(run_evaluation_set_original(&ev, &ctx, task_albef(&m)));
        error_exit_if(run_evaluation_add(&ev, &ctx, task_albef(&m), name ? name : fallback, -1.0));
        t->model_free(t, &m);
    }
    error_exit_if(run_evaluation_finish(&ev, &ctx));
    run_evaluation_free(&ev);
    free(ckpts);
    free(labels);
    run_free(&ctx);
    return 0;
}
