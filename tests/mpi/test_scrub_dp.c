/* UL and L-codec on the ranks against one rank, on the tiny eval world
 * (unlearn/ul.c, unlearn/lcodec.c). Neither is a training loop on batches of
 * the skeleton: UL accumulates one gradient over all of Df per update (the
 * ranks take whole minibatches and sum), its MLM head trains on batches whose
 * rows the ranks split, and L-codec's perturbation passes and Dr Hessian
 * gradients are spread over the ranks and all-gathered. Every rank runs the
 * one-rank reference alone (comm_solo_begin), then its share with the others.
 * Text dropout is on (0.1): UL's minibatches keep their dropout seeds.
 * Tolerance: UL's head parameters within 2e-5 + 2e-4 |x|, its model's
 * within 2e-5 + 2e-4 |x| + 0.05·lr·updates (the ranks add the minibatches'
 * gradients in another grouping, and Adam divides each element by its own
 * magnitude, so where the minibatches nearly cancel, rounding becomes a step
 * difference of a few percent of lr: measured one element of 69251 at
 * 0.012·lr with 3 ranks; a minibatch counted wrongly flips whole steps of
 * lr), its masked-token accuracies exactly (integer counts), NLLs within
 * 2e-5 + 2e-4 |x|; L-codec bit for bit
 * (each pass is computed whole by one rank, so the rows are one process's
 * bits and the rest is the same arithmetic on every rank). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "tests/mpi/dp_world.h"
#include "tests/test.h"
#include "unlearn/lcodec.h"
#include "unlearn/ul.h"

#define UL_LR_SLACK 0.05

static int close_to(double got, double want) { return fabs(got - want) <= 2e-5 + 2e-4 * fabs(want); }

static int head_params_match(const MlmHead *a, const MlmHead *b, char *why, size_t size) {
    for (int64_t k = 0; k < b->params.total; k++) {
        double u = a->params.values[k], v = b->params.values[k];
        if (!close_to(u, v)) {
            snprintf(why, size, "MLM head value %lld = %.9g, one rank: %.9g", (long long)k, u, v);
            return -1;
        }
    }
    return 0;
}

/* The head (trained from its initialisation on 12 items, 2 batches of 6 per
 * epoch), then two UL updates over 10 Df items in minibatches of 4 (blocks of
 * 4, 4 and 2: uneven over 2 ranks, one each over 3). */
TEST(test_dp_ul_matches_one_rank) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.1f) == 0, "%s", error_message());
    TokenizerSpecial ts = tokenizer_special(w.tok);
    MlmSpecial sp = {.mask = ts.mask, .cls = ts.cls, .sep = ts.sep, .pad = ts.pad};
    MlmHead href, hdp;
    mlm_head_init(&href, &w.ref.cfg, 5);
    mlm_head_init(&hdp, &w.ref.cfg, 5);
    int64_t *all = dp_items(12, 5, 0), *df = dp_items(10, 3, 1);
    UlRun run = {.lr = 3e-3, .max_epochs = 2, .batch_size = 4, .mask_prob = 0.3f, .stop_accuracy = -1,
                 .special = sp, .seed = 7};
    double href_first = 0, href_last = 0, hdp_first = 0, hdp_last = 0;
    UlStats sref, sdp;
    comm_solo_begin();
    int rc_ref = ul_train_mlm_head(&w.task, &w.tref, &href, all, 12, 2, 1e-2, 6, 0.3f, sp, 7, &href_first, &href_last);
    ul_set_trainable(&w.task, &w.tref, 0);
    if (rc_ref == 0) rc_ref = ul_unlearn(&w.task, &w.tref, &href, df, 10, &run, &sref);
    comm_solo_end();
    int rc_dp = ul_train_mlm_head(&w.task, &w.tdp, &hdp, all, 12, 2, 1e-2, 6, 0.3f, sp, 7, &hdp_first, &hdp_last);
    char why_head[256] = "", why[256] = "";
    int same_head = head_params_match(&hdp, &href, why_head, sizeof why_head) == 0;
    ul_set_trainable(&w.task, &w.tdp, 0);
    if (rc_dp == 0) rc_dp = ul_unlearn(&w.task, &w.tdp, &hdp, df, 10, &run, &sdp);
    int same = dp_params_match(&w.dp.params, &w.ref.params, run.lr, 2, UL_LR_SLACK, why, sizeof why) == 0;
    int moved = memcmp(w.dp.params.values, w.dp0.params.values, (size_t)w.dp.params.total * sizeof(float)) != 0;
    mlm_head_free(&href);
    mlm_head_free(&hdp);
    free(all), free(df);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_MSG(close_to(hdp_first, href_first) && close_to(hdp_last, href_last),
               "MLM head loss %.7g -> %.7g, one rank %.7g -> %.7g", hdp_first, hdp_last, href_first, href_last);
    ASSERT_MSG(same_head, "%s", why_head);
    ASSERT_EQ_INT(sdp.epochs, 2);
    ASSERT_MSG(sdp.first_ma == sref.first_ma && sdp.last_ma == sref.last_ma, "MA %.6f -> %.6f, one rank %.6f -> %.6f",
               sdp.first_ma, sdp.last_ma, sref.first_ma, sref.last_ma);
    ASSERT_MSG(close_to(sdp.first_nll, sref.first_nll) && close_to(sdp.last_nll, sref.last_nll),
               "NLL %.7g -> %.7g, one rank %.7g -> %.7g", sdp.first_nll, sdp.last_nll, sref.first_nll, sref.last_nll);
    ASSERT_MSG(sref.last_nll > sref.first_nll, "the ascent did not raise the Df NLL (%.6g -> %.6g)", sref.first_nll,
               sref.last_nll);
    ASSERT_MSG(moved, "UL left the model unchanged: the comparison would see nothing");
    ASSERT_MSG(same, "%s", why);
}

/* Two removal batches of 5 Df items, 6 perturbations and 3 Dr Hessian
 * batches (uneven over 2 ranks and 4 ranks alike), with noise and the guard. */
TEST(test_dp_lcodec_matches_one_rank_bit_for_bit) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.0f) == 0, "%s", error_message());
    LcodecOptions o = {
        .perturbations = 6, .batch = 5, .image_noise = 0.1f, .token_lo = 5, .token_hi = 30,
        .foci = LCODEC_FOCI_FULL, .max_units = 3, .hessian = LCODEC_HESSIAN_SAMPLES, .hessian_batches = 3,
        .newton = LCODEC_NEWTON_SEKHARI, .l2_reg = 0.01, .epsilon = 0.1, .delta = 0.01, .n_train = 60000,
        .noise = 1, .guard_gap = 1.0, .guard_pairs = 8, .seed = 7,
    };
    int64_t *df = dp_items(10, 5, 0), *dr = dp_items(30, 2, 1);
    int64_t T = w.ref.params.total;
    unsigned char *tref = calloc((size_t)T, 1), *tdp = calloc((size_t)T, 1);
    LcodecStats sref, sdp;
    comm_solo_begin();
    int rc_ref = lcodec_unlearn(&w.task, &w.tref, df, 10, dr, 30, &o, tref, &sref);
    comm_solo_end();
    int rc_dp = lcodec_unlearn(&w.task, &w.tdp, df, 10, dr, 30, &o, tdp, &sdp);
    int same = memcmp(w.dp.params.values, w.ref.params.values, (size_t)T * sizeof(float)) == 0;
    int same_touched = memcmp(tdp, tref, (size_t)T) == 0;
    int64_t first_diff = -1;
    for (int64_t k = 0; k < T && first_diff < 0; k++)
        if (w.dp.params.values[k] != w.ref.params.values[k]) first_diff = k;
    int moved = memcmp(w.ref.params.values, w.ref0.params.values, (size_t)T * sizeof(float)) != 0;
    free(df), free(dr), free(tref), free(tdp);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(sdp.batches, 2);
    ASSERT_EQ_INT(sdp.applied, sref.applied);
    ASSERT_EQ_INT(sdp.units_selected, sref.units_selected);
    ASSERT_EQ_INT(sdp.values_changed, sref.values_changed);
    ASSERT_MSG(sref.applied > 0 && moved, "no removal was applied: the comparison would see nothing");
    ASSERT_MSG(same_touched, "the ranks changed other slices than one rank");
    ASSERT_MSG(same, "parameter value %lld differs from one rank's", (long long)first_diff);
}
