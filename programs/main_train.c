/* bin/train: trains the original model on all of D (spec/unlearning_methods.md
 * §3.4) with the model's recipe, from --init's pretrained weights when given
 * (else a random initialisation from --seed), and writes
 * <run>/model.safetensors. */
#include <stdlib.h>

#include "core/error.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "programs/run_program.h"
#include "unlearn/train_loop.h"

/* --lr and --epochs set the training recipe (its staircase's peak lr and length). */
static const RunKnob TRAIN_KNOBS[] = {RUN_KNOB_DOUBLE("lr", init_lr), RUN_KNOB_INT("epochs", epochs)};

int main(int argc, char **argv) {
    RunContext ctx = {0};
    run_program_start(&ctx, "train", "Trains the original model of the task (--task) on all of D.",
                      NULL, 0, TRAIN_KNOBS, CLI_COUNT(TRAIN_KNOBS), argc, argv);
    const Task *t = &ctx.task;
    TaskModel model;
    error_exit_if(t->model_init(t, &model, (uint64_t)ctx.flags.seed));
    error_exit_if(run_apply_init(&ctx, &model));
    run_model_to_device(&ctx, &model);
    int64_t n = t->n_items[TASK_SPLIT_TRAIN];
    int64_t *all = xmalloc((size_t)n * sizeof *all);
    for (int64_t k = 0; k < n; k++) all[k] = k;
    TrainStats stats;
    error_exit_if(train_task_model(t, &model, all, n, &ctx.recipe, (uint64_t)ctx.flags.seed, &stats));
    free(all);
    char path[1100];
    error_exit_if(t->model_save(t, &model, run_path(&ctx, "model.safetensors", path, sizeof path)));
    log_info("trained %lld steps in %.1f s (loss %.3f -> %.3f); wrote %s", (long long)stats.steps, stats.seconds,
             stats.first_loss, stats.last_loss, path);
    t->model_free(t, &model);
    run_free(&ctx);
    return 0;
}
