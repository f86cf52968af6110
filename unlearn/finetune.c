#include "unlearn/finetune.h"

FineTuneRun finetune_run_from_recipe(const Recipe *r, double lr_mult, uint64_t seed) {
    return (FineTuneRun){
        .lr = r->finetune_lr * lr_mult,
        .epochs = r->finetune_epochs,
        .batch_size = r->batch_size,
        .weight_decay = r->weight_decay,
        .augment = r->augment,
        .seed = seed,
    };
}

int finetune_unlearn(const Task *t, TaskModel *m, const int64_t *dr, int64_t n_dr, const FineTuneRun *run,
                     TrainStats *stats) {
    /* The training loop with a flat schedule: the released code stays in the
     * epoch-0 branch of LAVIS's schedule (constant init_lr, no warm-up, §4.2);
     * min_lr = lr keeps it flat when more than one epoch is asked for. */
    Recipe r = {
        .init_lr = run->lr, .min_lr = run->lr, .warmup_lr = run->lr, .warmup_steps = 0,
        .weight_decay = run->weight_decay, .epochs = run->epochs, .batch_size = run->batch_size,
        .augment = run->augment,
    };
    return train_task_model(t, m, dr, n_dr, &r, run->seed, stats);
}
