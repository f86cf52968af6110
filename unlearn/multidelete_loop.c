#include "unlearn/multidelete_loop.h"

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

#define STREAM_DF_ORDER 0x6d6464666f726400ULL
#define STREAM_DR_ORDER 0x6d646472666f7200ULL
#define STREAM_DROPOUT 0x6d6464726f706f00ULL
#define STREAM_PERMUTE 0x6d647065726d7500ULL

/* A scalar loss term's value, read back from any device (0 when absent). */
static double term_value(const Tensor *t) {
    if (!t) return 0.0;
    float v;
    tensor_copy_to_host(t, &v);
    return v;
}

int multidelete_unlearn(Albef *unlearned, Albef *original, const RetrievalSet *train, const int64_t *df,
                        int64_t n_df, const int64_t *dr, int64_t n_dr, const MultiDeleteRun *run,
                        MultiDeleteStats *stats) {
    int b = run->batch_df;
    int64_t iters = n_df / b;
    if (iters < 1) return error_set("Df has %lld pairs, fewer than one batch of %d", (long long)n_df, b);
    if (n_dr < b) return error_set("Dr has %lld pairs, fewer than one batch of %d", (long long)n_dr, b);
    memset(stats, 0, sizeof *stats);
    AdamW opt;
    adamw_init(&opt, &unlearned->params, 0.9f, 0.999f, 1e-8f, 0.02f);
    adamw_use_lavis_decay_groups(&opt);
    int64_t *df_order = malloc((size_t)n_df * sizeof *df_order);
    int64_t *dr_order = malloc((size_t)n_dr * sizeof *dr_order);
    int64_t *dr_epoch = malloc((size_t)(iters * b) * sizeof *dr_epoch); /* the Dr halves of one epoch */
    int32_t *perm = malloc((size_t)b * sizeof *perm);
    CHECK(df_order && dr_order && dr_epoch && perm, "out of memory");
    memcpy(dr_order, dr, (size_t)n_dr * sizeof *dr_order);
    int64_t dr_pos = n_dr, dr_round = 0; /* forces a shuffle before the first Dr batch */
    ImageAugment aug = run->augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE;
    albef_set_mode(original, 0, run->seed);
    double t0 = clock_seconds();
    int rc = 0;
    Progress bar;
    progress_begin(&bar, "unlearn", (int64_t)run->epochs * iters);
    for (int epoch = 0; epoch < run->epochs && rc == 0; epoch++) {
        memcpy(df_order, df, (size_t)n_df * sizeof *df_order);
        Rng shuffle = rng_make(run->seed, STREAM_DF_ORDER + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, df_order, n_df);
        for (int64_t it = 0; it < iters; it++) {
            if (dr_pos + b > n_dr) {
                Rng r = rng_make(run->seed, STREAM_DR_ORDER + (uint64_t)dr_round++);
                rng_shuffle_i64(&r, dr_order, n_dr);
                dr_pos = 0;
            }
            memcpy(dr_epoch + it * b, dr_order + dr_pos, (size_t)b * sizeof *dr_epoch);
            dr_pos += b;
        }
        RetrievalLoader df_loader, dr_loader;
        if (retrieval_loader_start(&df_loader, train, df_order, iters, b, aug, run->seed, (uint64_t)epoch) < 0) {
            rc = -1;
            break;
        }
        if (retrieval_loader_start(&dr_loader, train, dr_epoch, iters, b, aug, run->seed, (uint64_t)epoch) < 0) {
            retrieval_loader_stop(&df_loader);
            rc = -1;
            break;
        }
        double md = 0, mkr = 0, ukr = 0;
        for (int64_t it = 0; it < iters; it++) {
            float lr = lavis_cosine_lr((float)run->lr, (float)run->min_lr, epoch, run->epochs, (float)run->lr, 0, it);
            AlbefBatch bf, br;
            if (retrieval_loader_next(&df_loader, &bf) != 1 || retrieval_loader_next(&dr_loader, &br) != 1) {
                rc = -1;
                break;
            }
            albef_set_mode(unlearned, 1, philox_u32(run->seed, STREAM_DROPOUT, (uint64_t)stats->steps) ^ run->seed);
            multidelete_random_permutation(run->seed ^ STREAM_PERMUTE, (uint64_t)stats->steps, b, perm);
            MultiDeleteTerms terms;
            Tensor *loss = multidelete_loss(unlearned, original, &bf, &br, perm, &run->loss, &terms);
            float value = (float)term_value(loss);
            if (!isfinite(value)) {
                rc = error_set("epoch %d step %lld: MultiDelete loss is %g", epoch, (long long)it, value);
                break;
            }
            md += term_value(terms.md);
            mkr += term_value(terms.mkr);
            ukr += term_value(terms.ukr);
            /* With -F and only L_UKR kept, nothing trainable is reached. */
            if (loss->requires_grad) autograd_backward(loss);
            adamw_step(&opt, lr);
            params_zero_grad(&unlearned->params);
            autograd_step_end();
            stats->steps++;
            progress_advance(&bar, 1);
        }
        retrieval_loader_stop(&df_loader);
        retrieval_loader_stop(&dr_loader);
        md /= (double)iters;
        mkr /= (double)iters;
        ukr /= (double)iters;
        if (epoch == 0) {
            stats->first_md = md;
            stats->first_mkr = mkr;
            stats->first_ukr = ukr;
        }
        stats->last_md = md;
        stats->last_mkr = mkr;
        stats->last_ukr = ukr;
        log_info("unlearn epoch %d: L_MD %.5f  L_MKR %.5f  L_UKR %.5f", epoch, md, mkr, ukr);
        if (run->select && rc == 0) {
            /* Scoring is not unlearning time (§6.5): the clock skips it. */
            double s0 = clock_seconds();
            rc = model_selection_after_epoch(run->select, epoch, unlearned);
            double spent = clock_seconds() - s0;
            stats->select_seconds += spent;
            t0 += spent;
        }
    }
    progress_end(&bar);
    stats->seconds = clock_seconds() - t0;
    autograd_step_end();
    stats->selected_epoch = run->epochs - 1;
    if (rc == 0 && run->select) {
        int best = model_selection_restore(run->select, unlearned);
        if (best >= 0) stats->selected_epoch = best;
    }
    albef_set_mode(unlearned, 0, run->seed);
    free(df_order);
    free(dr_order);
    free(dr_epoch);
    free(perm);
    adamw_free(&opt);
    return rc;
}
