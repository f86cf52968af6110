/* Learning-rate schedules. */
#ifndef NN_SCHEDULE_H
#define NN_SCHEDULE_H

#include <stdint.h>

/* Linear warm-up from warmup_start to peak over warmup_steps, then cosine
 * decay from peak to min_lr at total_steps. */
typedef struct {
    float peak, min_lr, warmup_start;
    int64_t warmup_steps, total_steps;
} WarmupCosine;

float warmup_cosine_lr(const WarmupCosine *s, int64_t step);

/* LAVIS linear_warmup_cosine_lr (spec/albef_blip.md §5.2): a per-epoch
 * staircase: lr(epoch) = min_lr + (init_lr - min_lr)·½(1 + cos(π·epoch/max_epoch)),
 * with linear warm-up over the first warmup_steps iterations of epoch 0. */
float lavis_cosine_lr(float init_lr, float min_lr, int epoch, int max_epoch, float warmup_lr, int64_t warmup_steps,
                      int64_t iteration_in_epoch0);

#endif
