/* The training programs' loops (unlearn/loop.c) on the ranks against one
 * rank on the same global batches: the original model's training, FineTune
 * and MultiDelete, each for two steps on the tiny eval world, every rank
 * running the one-rank reference alone (comm_solo_begin) and then its share
 * with the others. The world's ALBEF has no momentum encoder, so its ITC
 * meets the other ranks' online features through op_all_gather's gradient;
 * MultiDelete's L_MD is the global Df batch's b x b matrix. The training and
 * MultiDelete run once more with text dropout 0.1 (and the training with
 * augmentation): a rank draws each row's masks at the row's place in the
 * global batch (nn/layers.h dropout_set_batch_rows), and crops are keyed by
 * image, so the ranks drop and crop what one process does.
 * Tolerance: each step's loss (epoch means of one step) within 2e-5 + 2e-4
 * |x|, every parameter within 2e-5 + 2e-4 |x|, except the attention key
 * biases, whose gradient is zero in exact arithmetic and rounding noise in
 * floats, which AdamW turns into steps of up to lr: within 2·lr·steps. */
#include <math.h>
#include <stdlib.h>

#include "core/comm.h"
#include "core/error.h"
#include "tests/mpi/dp_world.h"
#include "tests/test.h"
#include "unlearn/finetune.h"
#include "unlearn/multidelete_loop.h"
#include "unlearn/train_loop.h"

#define GLOBAL_BATCH 6
#define STEPS 2

static void check_training(float dropout, int augment) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, dropout) == 0, "%s", error_message());
    Recipe r = recipe_get("albef-tiny", "flickr30k");
    r.epochs = STEPS; /* one step per epoch: the epoch means are the steps' losses */
    r.batch_size = GLOBAL_BATCH;
    r.warmup_steps = 0;
    r.warmup_lr = r.init_lr;
    r.augment = augment;
    int64_t *items = dp_items(GLOBAL_BATCH, 7, 0);
    TrainStats sref, sdp;
    comm_solo_begin();
    int rc_ref = train_task_model(&w.task, &w.tref, items, GLOBAL_BATCH, &r, 9, &sref);
    comm_solo_end();
    int rc_dp = train_task_model(&w.task, &w.tdp, items, GLOBAL_BATCH, &r, 9, &sdp);
    char why[256] = "";
    int same = dp_params_match(&w.dp.params, &w.ref.params, r.init_lr, STEPS, 0.0, why, sizeof why) == 0;
    free(items);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(sdp.steps, STEPS);
    ASSERT_NEAR(sdp.first_loss, sref.first_loss, 2e-5 + 2e-4 * fabs(sref.first_loss));
    ASSERT_NEAR(sdp.last_loss, sref.last_loss, 2e-5 + 2e-4 * fabs(sref.last_loss));
    ASSERT_MSG(same, "%s", why);
}

TEST(test_dp_training_of_the_original_matches_one_rank) { check_training(0.0f, 0); }

TEST(test_dp_training_with_dropout_and_augmentation_matches_one_rank) { check_training(0.1f, 1); }

TEST(test_dp_finetune_matches_one_rank) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.0f) == 0, "%s", error_message());
    FineTuneRun run = {.lr = 1e-4, .epochs = STEPS, .batch_size = GLOBAL_BATCH, .weight_decay = 0.02, .seed = 5};
    int64_t *dr = dp_items(GLOBAL_BATCH, 9, 0);
    TrainStats sref, sdp;
    comm_solo_begin();
    int rc_ref = finetune_unlearn(&w.task, &w.tref, dr, GLOBAL_BATCH, &run, &sref);
    comm_solo_end();
    int rc_dp = finetune_unlearn(&w.task, &w.tdp, dr, GLOBAL_BATCH, &run, &sdp);
    char why[256] = "";
    int same = dp_params_match(&w.dp.params, &w.ref.params, run.lr, STEPS, 0.0, why, sizeof why) == 0;
    free(dr);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_NEAR(sdp.first_loss, sref.first_loss, 2e-5 + 2e-4 * fabs(sref.first_loss));
    ASSERT_NEAR(sdp.last_loss, sref.last_loss, 2e-5 + 2e-4 * fabs(sref.last_loss));
    ASSERT_MSG(same, "%s", why);
}

static void check_multidelete(float dropout) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, dropout) == 0, "%s", error_message());
    MultiDeleteRun run = {.lr = 1e-4, .min_lr = 1e-4, .epochs = STEPS, .batch_df = GLOBAL_BATCH, .seed = 6,
                          .loss = multidelete_default_options()};
    int64_t *df = dp_items(GLOBAL_BATCH, 10, 0), *dr = dp_items(3 * GLOBAL_BATCH, 3, 1);
    MultiDeleteStats sref, sdp;
    comm_solo_begin();
    int rc_ref = multidelete_unlearn(&w.task, &w.tref, &w.tref0, df, GLOBAL_BATCH, dr, 3 * GLOBAL_BATCH, &run, &sref);
    comm_solo_end();
    int rc_dp = multidelete_unlearn(&w.task, &w.tdp, &w.tdp0, df, GLOBAL_BATCH, dr, 3 * GLOBAL_BATCH, &run, &sdp);
    char why[256] = "";
    int same = dp_params_match(&w.dp.params, &w.ref.params, run.lr, STEPS, 0.0, why, sizeof why) == 0;
    free(df);
    free(dr);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(sdp.steps, STEPS);
    const double got[6] = {sdp.first_md, sdp.first_mkr, sdp.first_ukr, sdp.last_md, sdp.last_mkr, sdp.last_ukr};
    const double want[6] = {sref.first_md, sref.first_mkr, sref.first_ukr, sref.last_md, sref.last_mkr, sref.last_ukr};
    for (int k = 0; k < 6; k++) ASSERT_NEAR(got[k], want[k], 2e-5 + 2e-4 * fabs(want[k]));
    ASSERT_MSG(want[3] > 0.0, "L_MD is zero after a step: the test would not see a wrong coupling");
    ASSERT_MSG(same, "%s", why);
}

TEST(test_dp_multidelete_matches_one_rank) { check_multidelete(0.0f); }

TEST(test_dp_multidelete_with_dropout_matches_one_rank) { check_multidelete(0.1f); }
