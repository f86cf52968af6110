#include "unlearn/neggrad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "nn/optim.h"
#include "unlearn/retrieval_batch.h"
#include "unlearn/run_driver.h"

/* Philox streams of this loop, distinct from the training loop's. */
#define STREAM_SHUFFLE 0x6e6567736875ULL
#define STREAM_DROPOUT 0x6e656764726fULL
#define STREAM_NEGATIVES 0x6e65676e6567ULL

double neggrad_chance_loss(int batch, int64_t queue) { return log((double)batch + (double)queue) + log(2.0); }

NegGradRun neggrad_run_from_recipe(const Recipe *r, const ModelConfig *cfg, double lr, int epochs, uint64_t seed) {
    return (NegGradRun){
        .lr = lr > 0 ? lr : r->neggrad_lr, /* base: FineTune's init_lr (§4.3) */
        .epochs = epochs > 0 ? epochs : r->neggrad_epochs,
        .batch_size = r->batch_size,
        .weight_decay = r->weight_decay,
        .augment = r->augment,
        .stop_loss = r->neggrad_stop_at_chance ? neggrad_chance_loss(r->batch_size, cfg->queue_size) : 0,
        .seed = seed,
    };
}

double neggrad_itm_match_rate(const Tensor *itm_logits, int B) {
    if (itm_logits->device != DEVICE_CPU) itm_logits = tensor_to_device(itm_logits, DEVICE_CPU);
    const float *l = tensor_f32(itm_logits);
    int match = 0;
    for (int b = 0; b < B; b++) match += l[2 * b + 1] > l[2 * b];
    return (double)match / (double)B;
}

int neggrad_unlearn(Albef *m, const RetrievalSet *train, const int64_t *df, int64_t n_df, const NegGradRun *run,
                    NegGradStats *stats) {
    int B = run->batch_size;
    int64_t iters = n_df / B; /* drop_last (§4.3) */
    if (iters < 1) return error_set("Df has %lld pairs, fewer than one batch of %d", (long long)n_df, B);
    memset(stats, 0, sizeof *stats);
    stats->max_steps = iters * run->epochs;
    AdamW opt;
    adamw_init(&opt, &m->params, 0.9f, 0.999f, 1e-8f, (float)run->weight_decay);
    adamw_use_lavis_decay_groups(&opt);
    int64_t *order = malloc((size_t)n_df * sizeof *order);
    int64_t *image_ids = malloc((size_t)B * sizeof *image_ids);
    CHECK(order && image_ids, "out of memory");
    ImageAugment aug = run->augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE;
    double t0 = clock_seconds();
    int rc = 0;
    Progress bar;
    progress_begin(&bar, "neggrad", stats->max_steps);
    for (int epoch = 0; epoch < run->epochs && rc == 0 && !stats->stopped; epoch++) {
        memcpy(order, df, (size_t)n_df * sizeof *order);
        Rng shuffle = rng_make(run->seed, STREAM_SHUFFLE + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, n_df);
        for (int64_t it = 0; it < iters; it++) {
            AlbefBatch batch;
            if (retrieval_batch_make(train, order + it * B, B, aug, run->seed, (uint64_t)epoch, image_ids, &batch) < 0) {
                rc = -1;
                break;
            }
            albef_set_mode(m, 1, philox_u32(run->seed, STREAM_DROPOUT, (uint64_t)stats->steps) ^ run->seed);
            AlbefLossOptions lo = {
                .alpha = model_config_alpha_at(&m->cfg, epoch, it, iters),
                .sample_seed = run->seed,
                .sample_stream = STREAM_NEGATIVES + (uint64_t)stats->steps,
            };
            AlbefLossOutput out;
            Tensor *loss = albef_retrieval_loss(m, &batch, &lo, &out);
            if (!loss) {
                rc = error_prefix("NegGrad epoch %d step %lld", epoch, (long long)it);
                break;
            }
            float loss_value;
            tensor_copy_to_host(loss, &loss_value);
            double value = loss_value, rate = neggrad_itm_match_rate(out.itm_logits, B);
            if (!isfinite(value)) {
                rc = error_set("NegGrad epoch %d step %lld: task loss is %g", epoch, (long long)it, value);
                break;
            }
            if (stats->steps == 0) {
                stats->first_loss = value;
                stats->first_itm_rate = rate;
            }
            stats->last_loss = value;
            stats->last_itm_rate = rate;
            if (run->stop_loss > 0 && value >= run->stop_loss) {
                log_info("NegGrad: stopped before step %lld: Df batch task loss %.4f >= %.4f (ITM match rate %.3f)",
                         (long long)stats->steps, value, run->stop_loss, rate);
                stats->stopped = 1;
                autograd_step_end();
                break;
            }
            /* Ascent: descend on the negated task loss (§4.3). */
            autograd_backward(op_scale(loss, -1.0f));
            adamw_step(&opt, (float)run->lr);
            params_zero_grad(&m->params);
            autograd_step_end();
            stats->steps++;
            progress_advance(&bar, 1);
        }
        log_info("NegGrad epoch %d: Df task loss %.4f (first batch %.4f), ITM match rate %.3f", epoch,
                 stats->last_loss, stats->first_loss, stats->last_itm_rate);
    }
    progress_end(&bar);
    autograd_step_end();
    albef_set_mode(m, 0, run->seed);
    stats->seconds = clock_seconds() - t0;
    free(order);
    free(image_ids);
    adamw_free(&opt);
    return rc;
}
