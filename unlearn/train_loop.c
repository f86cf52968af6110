#include "unlearn/train_loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "unlearn/retrieval_batch.h"

/* Philox streams of this loop, distinct from every other user of the seed. */
#define STREAM_SHUFFLE 0x747261696e736875ULL
#define STREAM_DROPOUT 0x747261696e64726fULL
#define STREAM_NEGATIVES 0x747261696e6e6567ULL

int albef_train_retrieval(Albef *m, const RetrievalSet *train, const int64_t *pairs, int64_t n_pairs,
                          const Recipe *recipe, uint64_t seed, TrainStats *stats) {
    int B = recipe->batch_size;
    int64_t iters = n_pairs / B; /* drop_last (spec §3.2) */
    if (iters < 1) return error_set("training set of %lld pairs is smaller than one batch of %d", (long long)n_pairs, B);
    memset(stats, 0, sizeof *stats);
    AdamW opt;
    adamw_init(&opt, &m->params, 0.9f, 0.999f, 1e-8f, (float)recipe->weight_decay);
    adamw_use_lavis_decay_groups(&opt);
    int64_t *order = malloc((size_t)n_pairs * sizeof *order);
    CHECK(order, "out of memory");
    ImageAugment aug = recipe->augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE;
    double t0 = clock_seconds();
    int rc = 0;
    Progress bar;
    progress_begin(&bar, "train", (int64_t)recipe->epochs * iters);
    for (int epoch = 0; epoch < recipe->epochs && rc == 0; epoch++) {
        memcpy(order, pairs, (size_t)n_pairs * sizeof *order);
        Rng shuffle = rng_make(seed, STREAM_SHUFFLE + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, n_pairs);
        double loss_sum = 0.0;
        RetrievalLoader loader;
        if (retrieval_loader_start(&loader, train, order, iters, B, aug, seed, (uint64_t)epoch) < 0) {
            rc = -1;
            break;
        }
        for (int64_t it = 0; it < iters; it++) {
            float lr = lavis_cosine_lr((float)recipe->init_lr, (float)recipe->min_lr, epoch, recipe->epochs,
                                       (float)recipe->warmup_lr, recipe->warmup_steps, it);
            AlbefBatch batch;
            if (retrieval_loader_next(&loader, &batch) != 1) {
                rc = -1;
                break;
            }
            albef_set_mode(m, 1, philox_u32(seed, STREAM_DROPOUT, (uint64_t)stats->steps) ^ seed);
            AlbefLossOptions lo = {
                .alpha = model_config_alpha_at(&m->cfg, epoch, it, iters),
                .sample_seed = seed,
                .sample_stream = STREAM_NEGATIVES + (uint64_t)stats->steps,
            };
            AlbefLossOutput out;
            Tensor *loss = albef_retrieval_loss(m, &batch, &lo, &out);
            if (!loss) {
                rc = error_prefix("epoch %d step %lld", epoch, (long long)it);
                break;
            }
            float value;
            tensor_copy_to_host(loss, &value); /* any device */
            if (!isfinite(value)) {
                rc = error_set("epoch %d step %lld: loss is %g (learning rate %g too high?)", epoch, (long long)it,
                               value, lr);
                break;
            }
            autograd_backward(loss);
            adamw_step(&opt, lr);
            params_zero_grad(&m->params);
            autograd_step_end();
            loss_sum += value;
            stats->steps++;
            progress_advance(&bar, 1);
        }
        retrieval_loader_stop(&loader);
        double mean = loss_sum / (double)iters;
        if (epoch == 0) stats->first_loss = mean;
        stats->last_loss = mean;
        log_info("epoch %d: mean loss %.4f", epoch, mean);
    }
    progress_end(&bar);
    autograd_step_end();
    albef_set_mode(m, 0, seed);
    stats->seconds = clock_seconds() - t0;
    free(order);
    adamw_free(&opt);
    return rc;
}
