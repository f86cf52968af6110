/* bin/evaluate: Dt, Df, Df-vs-unseen and the MI ratio of any checkpoints
 * against the same Df/Dr split the method programs use (same --data,
 * --df-size/--df-list, --seed), written as a run directory. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "models/task_retrieval.h"
#include "programs/run_eval.h"
#include "programs/run_program.h"

/* Splits a comma-separated flag value; an empty item (",", "a,,b", "") or a
 * name given twice is refused: each would silently drop or overwrite a row. */
static char **split_list(const char *flag, const char *text, int unique, int *n_out) {
    int n = 1;
    for (const char *p = text; *p; p++) n += *p == ',';
    char **items = xcalloc((size_t)n, sizeof *items);
    const char *p = text;
    for (int k = 0; k < n; k++) {
        size_t len = strcspn(p, ",");
        if (len == 0) fatal("--%s \"%s\": item %d is empty", flag, text, k + 1);
        items[k] = strndup(p, len);
        for (int j = 0; unique && j < k; j++)
            if (strcmp(items[j], items[k]) == 0)
                fatal("--%s \"%s\": \"%s\" is listed twice (items %d and %d)", flag, text, items[k], j + 1, k + 1);
        p += len + 1;
    }
    *n_out = n;
    return items;
}

int main(int argc, char **argv) {
    RunContext ctx = {0};
    const char *names;
    CliFlag own[] = {
        CLI_FLAG_STRING("checkpoints", &ctx.flags.checkpoints, NULL, "comma-separated checkpoints to evaluate (required)"),
        CLI_FLAG_STRING("names", &names, NULL, "comma-separated row names (default: model1, model2, ...)"),
    };
    run_program_start(&ctx, "evaluate",
                      "Evaluates checkpoints on Dt (test retrieval), Df (deleted pairs vs Dr and vs unseen pairs) "
                      "and membership inference (MI ratio) for one deletion request. The MI attacker is trained on "
                      "the original model: --original when given, else the first checkpoint (then list the "
                      "original first).",
                      own, CLI_COUNT(own), NULL, 0, argc, argv);
    const char *checkpoints = ctx.flags.checkpoints;
    if (!checkpoints) fatal("--checkpoints: give at least one checkpoint (see --help)");
    int n_ckpt = 0, n_names = 0;
    char **ckpts = split_list("checkpoints", checkpoints, 0, &n_ckpt);
    char **labels = names ? split_list("names", names, 1, &n_names) : NULL;
    if (labels && n_names != n_ckpt)
        fatal("--names: %d names for %d checkpoints (give one per checkpoint, or none)", n_names, n_ckpt);
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
        error_exit_if(run_evaluation_set_original(&ev, &ctx, &original));
        t->model_free(t, &original);
    }
    for (int k = 0; k < n_ckpt; k++) {
        char fallback[32];
        snprintf(fallback, sizeof fallback, "model%d", k + 1);
        const char *c = ckpts[k], *name = labels ? labels[k] : NULL;
        TaskModel m;
        error_exit_if(t->model_init(t, &m, (uint64_t)ctx.flags.seed));
        error_exit_if(t->model_load(t, &m, c));
        run_model_to_device(&ctx, &m);
        if (k == 0 && !ctx.flags.original) error_exit_if(run_evaluation_set_original(&ev, &ctx, &m));
        error_exit_if(run_evaluation_add(&ev, &ctx, &m, name ? name : fallback, -1.0));
        t->model_free(t, &m);
    }
    error_exit_if(run_evaluation_finish(&ev, &ctx));
    run_evaluation_free(&ev);
    for (int k = 0; k < n_ckpt; k++) free(ckpts[k]);
    for (int k = 0; k < n_names; k++) free(labels[k]);
    free(ckpts);
    free(labels);
    run_free(&ctx);
    return 0;
}
