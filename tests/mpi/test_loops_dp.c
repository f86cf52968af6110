/* The training programs' loops (unlearn/loop.c) on the ranks against one
 * rank on the same global batches: the original model's training, FineTune
 * and MultiDelete, each for two steps on the tiny eval world, every rank
 * running the one-rank reference alone (comm_solo_begin) and then its share
 * with the others. The world's ALBEF has no momentum encoder, so its ITC
 * meets the other ranks' online features through op_all_gather's gradient;
 * MultiDelete's L_MD is the global Df batch's b x b matrix. Dropout and
 * augmentation are off: their masks and crops are drawn per tensor element,
 * which a shard numbers differently from the global batch.
 * Tolerance: each step's loss (epoch means of one step) within 2e-5 + 2e-4
 * |x|, every parameter within 2e-5 + 2e-4 |x|, except the attention key
 * biases, whose gradient is zero in exact arithmetic and rounding noise in
 * floats, which AdamW turns into steps of up to lr: within 2·lr·steps. */
#include <stdlib.h>

#include "core/comm.h"
#include "core/error.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/finetune.h"
#include "unlearn/multidelete_loop.h"
#include "unlearn/train_loop.h"

#define GLOBAL_BATCH 6
#define STEPS 2

typedef struct {
    Tokenizer *tok;
    RetrievalSet train;
    Albef ref, dp, ref0, dp0; /* the models stepped and, for MultiDelete, the originals θ0 */
    Task task;
    TaskModel tref, tdp, tref0, tdp0;
} World;

static int world_open(World *w) {
    memset(w, 0, sizeof *w);
    if (!(w->tok = eval_world_tokenizer())) return -1;
    Albef *ms[4] = {&w->ref, &w->dp, &w->ref0, &w->dp0};
    for (int k = 0; k < 4; k++) {
        if (eval_world_model(ms[k], w->tok, 3) < 0) return -1;
        ms[k]->cfg.text_dropout = 0.0f;
    }
    if (eval_world_set(&w->train, "train", w->tok, &w->ref.cfg) < 0) return -1;
    task_retrieval_init(&w->task, &w->ref.cfg, &w->train, NULL, NULL);
    w->tref = task_retrieval_wrap(&w->ref);
    w->tdp = task_retrieval_wrap(&w->dp);
    w->tref0 = task_retrieval_wrap(&w->ref0);
    w->tdp0 = task_retrieval_wrap(&w->dp0);
    return 0;
}

static void world_close(World *w) {
    retrieval_set_free(&w->train);
    albef_free(&w->ref);
    albef_free(&w->dp);
    albef_free(&w->ref0);
    albef_free(&w->dp0);
    tokenizer_free(w->tok);
}

static int zero_gradient_element(const char *name, int64_t k, int64_t n) {
    size_t len = strlen(name);
    if (len >= 13 && strcmp(name + len - 13, "attn.qkv.bias") == 0) return k >= n / 3 && k < 2 * n / 3;
    return len >= 8 && strcmp(name + len - 8, "key.bias") == 0;
}

/* 0 when every parameter of a is within the tolerance of b's, else the first offender named. */
static int params_match(const Albef *a, const Albef *b, double lr, char *why, size_t size) {
    for (int p = 0; p < b->params.count; p++) {
        const Tensor *x = a->params.items[p], *y = b->params.items[p];
        for (int64_t k = 0; k < tensor_numel(y); k++) {
            double u = tensor_f32(x)[k], v = tensor_f32(y)[k];
            double tol = zero_gradient_element(y->name, k, tensor_numel(y)) ? 2.0 * lr * STEPS : 2e-5 + 2e-4 * fabs(v);
            if (!(fabs(u - v) <= tol)) {
                snprintf(why, size, "%s[%lld] = %.9g, one rank: %.9g", y->name, (long long)k, u, v);
                return -1;
            }
        }
    }
    return 0;
}

static int64_t *first_items(int64_t n, int64_t stride) {
    int64_t *items = malloc((size_t)n * sizeof *items);
    for (int64_t k = 0; k < n; k++) items[k] = k * stride;
    return items;
}

TEST(test_dp_training_of_the_original_matches_one_rank) {
    World w;
    ASSERT_MSG(world_open(&w) == 0, "%s", error_message());
    Recipe r = recipe_get("albef-tiny", "flickr30k");
    r.epochs = STEPS; /* one step per epoch: the epoch means are the steps' losses */
    r.batch_size = GLOBAL_BATCH;
    r.warmup_steps = 0;
    r.warmup_lr = r.init_lr;
    r.augment = 0;
    int64_t *items = first_items(GLOBAL_BATCH, 7);
    TrainStats sref, sdp;
    comm_solo_begin();
    int rc_ref = train_task_model(&w.task, &w.tref, items, GLOBAL_BATCH, &r, 9, &sref);
    comm_solo_end();
    int rc_dp = train_task_model(&w.task, &w.tdp, items, GLOBAL_BATCH, &r, 9, &sdp);
    char why[256] = "";
    int same = params_match(&w.dp, &w.ref, r.init_lr, why, sizeof why) == 0;
    free(items);
    world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(sdp.steps, STEPS);
    ASSERT_NEAR(sdp.first_loss, sref.first_loss, 2e-5 + 2e-4 * fabs(sref.first_loss));
    ASSERT_NEAR(sdp.last_loss, sref.last_loss, 2e-5 + 2e-4 * fabs(sref.last_loss));
    ASSERT_MSG(same, "%s", why);
}

TEST(test_dp_finetune_matches_one_rank) {
    World w;
    ASSERT_MSG(world_open(&w) == 0, "%s", error_message());
    FineTuneRun run = {.lr = 1e-4, .epochs = STEPS, .batch_size = GLOBAL_BATCH, .weight_decay = 0.02, .seed = 5};
    int64_t *dr = first_items(GLOBAL_BATCH, 9);
    TrainStats sref, sdp;
    comm_solo_begin();
    int rc_ref = finetune_unlearn(&w.task, &w.tref, dr, GLOBAL_BATCH, &run, &sref);
    comm_solo_end();
    int rc_dp = finetune_unlearn(&w.task, &w.tdp, dr, GLOBAL_BATCH, &run, &sdp);
    char why[256] = "";
    int same = params_match(&w.dp, &w.ref, run.lr, why, sizeof why) == 0;
    free(dr);
    world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_NEAR(sdp.first_loss, sref.first_loss, 2e-5 + 2e-4 * fabs(sref.first_loss));
    ASSERT_NEAR(sdp.last_loss, sref.last_loss, 2e-5 + 2e-4 * fabs(sref.last_loss));
    ASSERT_MSG(same, "%s", why);
}

TEST(test_dp_multidelete_matches_one_rank) {
    World w;
    ASSERT_MSG(world_open(&w) == 0, "%s", error_message());
    MultiDeleteRun run = {.lr = 1e-4, .min_lr = 1e-4, .epochs = STEPS, .batch_df = GLOBAL_BATCH, .seed = 6,
                          .loss = multidelete_default_options()};
    int64_t *df = first_items(GLOBAL_BATCH, 10), *dr = first_items(3 * GLOBAL_BATCH, 3);
    for (int64_t k = 0; k < 3 * GLOBAL_BATCH; k++) dr[k] += 1; /* off Df's pairs */
    MultiDeleteStats sref, sdp;
    comm_solo_begin();
    int rc_ref = multidelete_unlearn(&w.task, &w.tref, &w.tref0, df, GLOBAL_BATCH, dr, 3 * GLOBAL_BATCH, &run, &sref);
    comm_solo_end();
    int rc_dp = multidelete_unlearn(&w.task, &w.tdp, &w.tdp0, df, GLOBAL_BATCH, dr, 3 * GLOBAL_BATCH, &run, &sdp);
    char why[256] = "";
    int same = params_match(&w.dp, &w.ref, run.lr, why, sizeof why) == 0;
    free(df);
    free(dr);
    world_close(&w);
    ASSERT_MSG(rc_ref == 0 && rc_dp == 0, "%s", error_message());
    ASSERT_EQ_INT(sdp.steps, STEPS);
    const double got[6] = {sdp.first_md, sdp.first_mkr, sdp.first_ukr, sdp.last_md, sdp.last_mkr, sdp.last_ukr};
    const double want[6] = {sref.first_md, sref.first_mkr, sref.first_ukr, sref.last_md, sref.last_mkr, sref.last_ukr};
    for (int k = 0; k < 6; k++) ASSERT_NEAR(got[k], want[k], 2e-5 + 2e-4 * fabs(want[k]));
    ASSERT_MSG(want[3] > 0.0, "L_MD is zero after a step: the test would not see a wrong coupling");
    ASSERT_MSG(same, "%s", why);
}
