/* Learning-rate schedules: a per-step warm-up + cosine, and LAVIS's per-epoch
 * staircase (spec/albef_blip.md §5.2). Computed in double and returned as
 * float so long schedules do not drift. */
#include "nn/schedule.h"

#include <math.h>

float warmup_cosine_lr(const WarmupCosine *s, int64_t step) {
    if (step < s->warmup_steps) {
        double t = (double)step / (double)s->warmup_steps;
        return (float)((double)s->warmup_start + ((double)s->peak - (double)s->warmup_start) * t);
    }
    int64_t span = s->total_steps - s->warmup_steps;
    double progress = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    if (progress > 1.0) progress = 1.0; /* past the end: stay at min_lr */
    return (float)((double)s->min_lr + ((double)s->peak - (double)s->min_lr) * 0.5 * (1.0 + cos(M_PI * progress)));
}

float lavis_cosine_lr(float init_lr, float min_lr, int epoch, int max_epoch, float warmup_lr, int64_t warmup_steps,
                      int64_t iteration_in_epoch0) {
    if (epoch == 0) {
        /* LAVIS warmup_lr_schedule: min(init, start + (init - start)·it / max(steps, 1)).
         * A negative warmup_lr means "not configured": LAVIS then starts at
         * init_lr, i.e. no warm-up (§5.2). */
        double start = warmup_lr < 0.0f ? (double)init_lr : (double)warmup_lr;
        double denom = warmup_steps > 1 ? (double)warmup_steps : 1.0;
        double lr = start + ((double)init_lr - start) * (double)iteration_in_epoch0 / denom;
        return (float)(lr < (double)init_lr ? lr : (double)init_lr);
    }
    double c = 0.5 * (1.0 + cos(M_PI * (double)epoch / (double)max_epoch));
    return (float)((double)min_lr + ((double)init_lr - (double)min_lr) * c);
}
