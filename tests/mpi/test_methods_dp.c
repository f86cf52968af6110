/* The unlearning methods built on the training loop (unlearn/loop.c) beyond
 * those of test_loops_dp.c, on the ranks against one rank on the same global
 * batches, each for two steps on the tiny eval world: NegGrad (with and
 * without its stopping rule), Erm-Ktp's two phases (the ERM mask is a
 * parameter outside the model's ParamSet) and DtD (descent, then noise).
 * Every rank runs the one-rank reference alone (comm_solo_begin), then its
 * share with the others. Dropout and augmentation are off.
 * Tolerance: losses within 2e-5 + 2e-4 |x|, parameters (and the ERM mask)
 * within 2e-5 + 2e-4 |x| except the attention key biases (dp_world.h);
 * step counts and the stop exactly. */
#include <math.h>
#include <stdlib.h>

#include "core/comm.h"
#include "core/error.h"
#include "tests/eval_world.h"
#include "tests/mpi/dp_world.h"
#include "tests/test.h"
#include "unlearn/dtd.h"
#include "unlearn/ermktp.h"
#include "unlearn/finetune.h"
#include "unlearn/neggrad.h"

#define GLOBAL_BATCH 6
#define STEPS 2

static int close_to(double got, double want) { return fabs(got - want) <= 2e-5 + 2e-4 * fabs(want); }

TEST(test_dp_neggrad_matches_one_rank) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.0f) == 0, "%s", error_message());
    NegGradRun run = {.lr = 1e-4, .epochs = STEPS, .batch_size = GLOBAL_BATCH, .weight_decay = 0.02, .seed = 4};
    int64_t *df = dp_items(GLOBAL_BATCH, 10, 0);
    NegGradStats sref, sdp;
    comm_solo_begin();
    int rc_ref = neggrad_unlearn(&w.task, &w.tref, df, GLOBAL_BATCH, &run, &sref);
    comm_solo_end();
    int rc_dp = neggrad_unlearn(&w.task, &w.tdp, df, GLOBAL_BATCH, &run, &sdp);
    char why[256] = "";
    int same = dp_params_match(&w.dp.params, &w.ref.params, run.lr, STEPS, 0.0, why, sizeof why) == 0;
    free(df);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(sdp.steps, STEPS);
    ASSERT_MSG(close_to(sdp.first_loss, sref.first_loss) && close_to(sdp.last_loss, sref.last_loss),
               "Df loss %.7g -> %.7g, one rank %.7g -> %.7g", sdp.first_loss, sdp.last_loss, sref.first_loss,
               sref.last_loss);
    ASSERT_MSG(close_to(sdp.first_accuracy, sref.first_accuracy) && close_to(sdp.last_accuracy, sref.last_accuracy),
               "accuracy %.4f -> %.4f, one rank %.4f -> %.4f", sdp.first_accuracy, sdp.last_accuracy,
               sref.first_accuracy, sref.last_accuracy);
    ASSERT_MSG(same, "%s", why);
}

/* The floor is a rule on the global batch's loss: with the floor just above
 * the first batch's loss, one rank takes the first step and stops before the
 * second (the ascent raised the loss past it); a rank that judged its own
 * shard would stop at once when its shard's loss is above the mean. */
TEST(test_dp_neggrad_stops_on_the_global_batch_loss) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.0f) == 0, "%s", error_message());
    NegGradRun run = {.lr = 1e-3, .epochs = STEPS, .batch_size = GLOBAL_BATCH, .weight_decay = 0.02, .seed = 4};
    int64_t *df = dp_items(GLOBAL_BATCH, 10, 0);
    NegGradStats free_run, sref, sdp;
    comm_solo_begin();
    int rc_free = neggrad_unlearn(&w.task, &w.tref0, df, GLOBAL_BATCH, &run, &free_run);
    run.stop_loss = free_run.first_loss + 1e-3;
    int rc_ref = rc_free == 0 ? neggrad_unlearn(&w.task, &w.tref, df, GLOBAL_BATCH, &run, &sref) : -1;
    comm_solo_end();
    int rc_dp = neggrad_unlearn(&w.task, &w.tdp, df, GLOBAL_BATCH, &run, &sdp);
    char why[256] = "";
    int same = dp_params_match(&w.dp.params, &w.ref.params, run.lr, 1, 0.0, why, sizeof why) == 0;
    free(df);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_MSG(free_run.last_loss > run.stop_loss,
               "the ascent did not raise the Df loss past the floor (%.6g -> %.6g): the test sees nothing",
               free_run.first_loss, free_run.last_loss);
    ASSERT_MSG(sref.stopped && sref.steps == 1, "one rank: stopped %d after %lld steps", sref.stopped,
               (long long)sref.steps);
    ASSERT_MSG(sdp.stopped && sdp.steps == 1, "stopped %d after %lld steps (one rank: 1)", sdp.stopped,
               (long long)sdp.steps);
    ASSERT_MSG(close_to(sdp.last_loss, sref.last_loss), "Df loss at the stop %.7g, one rank %.7g", sdp.last_loss,
               sref.last_loss);
    ASSERT_MSG(same, "%s", why);
}

static ErmKtpOptions erm_options(void) {
    return (ErmKtpOptions){.erm_epochs = STEPS, .mask_period = 1, .mask_epoch_min = 0, .mask_lr = 0.1,
                           .mask_momentum = 0.9, .mask_weight_decay = 5e-4, .reg = 1e-3, .ktp_epochs = STEPS,
                           .ktp_lr = 1e-4, .prohibit_threshold = 0.5f, .seed = 8};
}

static int masks_match(const ErmMask *a, const ErmMask *b, char *why, size_t size) {
    for (int64_t k = 0; k < tensor_numel(b->rows); k++) {
        double u = tensor_f32(a->rows)[k], v = tensor_f32(b->rows)[k];
        if (!close_to(u, v)) {
            snprintf(why, size, "erm_mask[%lld] = %.9g, one rank: %.9g", (long long)k, u, v);
            return -1;
        }
    }
    return 0;
}

/* Both phases: (a) ERM trains the model and the mask (every step a mask
 * step), (b) KTP distils the teacher into a fresh student on Dr. */
TEST(test_dp_ermktp_matches_one_rank) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.0f) == 0, "%s", error_message());
    Recipe r = recipe_get("albef-tiny", "flickr30k");
    r.batch_size = GLOBAL_BATCH;
    r.warmup_steps = 0;
    r.warmup_lr = r.init_lr;
    r.augment = 0;
    ErmKtpOptions o = erm_options();
    int64_t *items = dp_items(GLOBAL_BATCH, 7, 0), *df = dp_items(3, 5, 0), *dr = dp_items(GLOBAL_BATCH, 5, 16);
    ErmMask mref, mdp;
    erm_mask_init(&mref, EVAL_WORLD_TRAIN_IMAGES, w.ref.cfg.vision_width);
    erm_mask_init(&mdp, EVAL_WORLD_TRAIN_IMAGES, w.ref.cfg.vision_width);
    TaskModel stref, stdp;
    ASSERT_MSG(w.task.model_init(&w.task, &stref, 11) == 0 && w.task.model_init(&w.task, &stdp, 11) == 0, "%s",
               error_message());
    ErmStats eref, edp;
    KtpStats kref, kdp;
    comm_solo_begin();
    int rc_ref = ermktp_train_erm(&w.task, &w.tref, &mref, items, GLOBAL_BATCH, &r, &o, &eref);
    if (rc_ref == 0) rc_ref = ermktp_transfer(&w.task, &stref, &w.tref, &mref, df, 3, dr, GLOBAL_BATCH, &r, &o, &kref);
    comm_solo_end();
    int rc_dp = ermktp_train_erm(&w.task, &w.tdp, &mdp, items, GLOBAL_BATCH, &r, &o, &edp);
    char why_mask[256] = "", why_teacher[256] = "", why_student[256] = "";
    int same_mask = masks_match(&mdp, &mref, why_mask, sizeof why_mask) == 0;
    int same_teacher = dp_params_match(&w.dp.params, &w.ref.params, r.init_lr, STEPS, 0.0, why_teacher,
                                       sizeof why_teacher) == 0;
    if (rc_dp == 0) rc_dp = ermktp_transfer(&w.task, &stdp, &w.tdp, &mdp, df, 3, dr, GLOBAL_BATCH, &r, &o, &kdp);
    int same_student = dp_params_match(stdp.params, stref.params, o.ktp_lr, STEPS, 0.0, why_student,
                                       sizeof why_student) == 0;
    w.task.model_free(&w.task, &stref);
    w.task.model_free(&w.task, &stdp);
    erm_mask_free(&mref);
    erm_mask_free(&mdp);
    free(items), free(df), free(dr);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(edp.mask_steps, STEPS);
    ASSERT_MSG(close_to(edp.first_loss, eref.first_loss) && close_to(edp.last_loss, eref.last_loss),
               "ERM loss %.7g -> %.7g, one rank %.7g -> %.7g", edp.first_loss, edp.last_loss, eref.first_loss,
               eref.last_loss);
    ASSERT_MSG(close_to(edp.last_reg, eref.last_reg), "R(M) %.7g, one rank %.7g", edp.last_reg, eref.last_reg);
    ASSERT_MSG(same_mask, "%s", why_mask);
    ASSERT_MSG(same_teacher, "teacher: %s", why_teacher);
    ASSERT_EQ_INT(kdp.prohibited, kref.prohibited);
    ASSERT_EQ_INT(kdp.steps, STEPS);
    ASSERT_MSG(close_to(kdp.first_loss, kref.first_loss) && close_to(kdp.last_loss, kref.last_loss),
               "KTP loss %.7g -> %.7g, one rank %.7g -> %.7g", kdp.first_loss, kdp.last_loss, kref.first_loss,
               kref.last_loss);
    ASSERT_MSG(same_student, "student: %s", why_student);
}

/* DtD as bin/unlearn_dtd runs it: descent epochs on Dr (FineTune's loop),
 * then the noise, a pure function of (seed, flat index) on parameters that
 * are identical on every rank. */
TEST(test_dp_dtd_matches_one_rank) {
    DpWorld w;
    ASSERT_MSG(dp_world_open(&w, 0.0f) == 0, "%s", error_message());
    FineTuneRun run = {.lr = 1e-4, .epochs = STEPS, .batch_size = GLOBAL_BATCH, .weight_decay = 0.02, .seed = 5};
    int64_t *dr = dp_items(GLOBAL_BATCH, 9, 1);
    TrainStats sref, sdp;
    comm_solo_begin();
    int rc_ref = finetune_unlearn(&w.task, &w.tref, dr, GLOBAL_BATCH, &run, &sref);
    int64_t nref = dtd_add_noise(w.tref.params, 1e-3, 5);
    comm_solo_end();
    int rc_dp = finetune_unlearn(&w.task, &w.tdp, dr, GLOBAL_BATCH, &run, &sdp);
    int64_t ndp = dtd_add_noise(w.tdp.params, 1e-3, 5);
    char why[256] = "";
    int same = dp_params_match(&w.dp.params, &w.ref.params, run.lr, STEPS, 0.0, why, sizeof why) == 0;
    free(dr);
    dp_world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_MSG(nref > 0 && ndp == nref, "noised %lld values, one rank %lld", (long long)ndp, (long long)nref);
    ASSERT_MSG(close_to(sdp.last_loss, sref.last_loss), "loss %.7g, one rank %.7g", sdp.last_loss, sref.last_loss);
    ASSERT_MSG(same, "%s", why);
}
