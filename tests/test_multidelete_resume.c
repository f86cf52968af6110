/* Resume of MultiDelete with model selection (unlearn/multidelete_loop.h,
 * unlearn/loop_checkpoint.h): a run killed while scoring epoch 5 of 6 and
 * continued in a fresh model and a fresh selector ends bit-identical to the
 * uninterrupted run: the selected epoch, the candidates' scores, the final
 * parameters (the kept ones of epoch 4, scored before the kill) and the loss
 * terms of the first and last epochs. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/deletion.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/loop.h"
#include "unlearn/model_selection.h"
#include "unlearn/multidelete_loop.h"

/* Scores by candidate index (epochs 3, 4, 5, 6 → 40, 80, 50, 60: epoch 4 wins);
 * the call `kill_at` fails, as a killed process stops at that point. */
typedef struct {
    int calls, kill_at;
} KillableScore;

static int killable_score(void *ctx, TaskModel *m, EpochScore *out) {
    (void)m;
    static const double dt[] = {40, 80, 50, 60};
    KillableScore *k = ctx;
    if (k->calls == k->kill_at) return error_set("killed while scoring");
    *out = (EpochScore){.dt = dt[k->calls], .auc_code = dt[k->calls]};
    k->calls++;
    return 0;
}

typedef struct {
    Tokenizer *tok;
    Albef original, unlearned;
    RetrievalSet train;
    Task task;
    DeletionSplit split;
} World;

/* Df = the 5 captions of image 0, Dr = the other 55 pairs; θ = θ0 (seed 3). */
static int world_open(World *w) {
    memset(w, 0, sizeof *w);
    if (!(w->tok = eval_world_tokenizer())) return -1;
    if (eval_world_model(&w->original, w->tok, 3) < 0 || eval_world_model(&w->unlearned, w->tok, 3) < 0) return -1;
    if (eval_world_set(&w->train, "train", w->tok, &w->original.cfg) < 0) return -1;
    task_retrieval_init(&w->task, &w->original.cfg, &w->train, NULL, NULL);
    int64_t n = w->train.split.n_texts;
    w->split.df = malloc((size_t)n * sizeof(int64_t));
    w->split.dr = malloc((size_t)n * sizeof(int64_t));
    for (int64_t t = 0; t < n; t++) {
        if (w->train.split.txt2img[t] == 0) w->split.df[w->split.n_df++] = t;
        else w->split.dr[w->split.n_dr++] = t;
    }
    return 0;
}

static void world_close(World *w) {
    deletion_split_free(&w->split);
    w->task.free(&w->task);
    retrieval_set_free(&w->train);
    albef_free(&w->original);
    albef_free(&w->unlearned);
    tokenizer_free(w->tok);
}

/* 6 epochs of one step, selection from the 3rd: a fresh process's run. */
static int run_multidelete(World *w, ModelSelection *sel, KillableScore *score, MultiDeleteStats *st) {
    albef_free(&w->unlearned);
    if (eval_world_model(&w->unlearned, w->tok, 3) < 0) return -1;
    model_selection_init(sel, 2, killable_score, score);
    MultiDeleteRun run = {.lr = 1e-3, .min_lr = 1e-4, .epochs = 6, .batch_df = 4, .seed = 7,
                          .loss = multidelete_default_options(), .select = sel};
    TaskModel o = task_retrieval_wrap(&w->original), u = task_retrieval_wrap(&w->unlearned);
    return multidelete_unlearn(&w->task, &u, &o, w->split.df, w->split.n_df, w->split.dr, w->split.n_dr, &run, st);
}

TEST(test_multidelete_resumed_after_a_kill_selects_and_ends_bit_identical) {
    World w;
    ASSERT_MSG(world_open(&w) == 0, "%s", error_message());
    char dir[512], state[700];
    test_tmp_path(dir, sizeof dir, "md_resume_ckpt");
    ASSERT(make_dirs(dir) == 0);
    snprintf(state, sizeof state, "%s/unlearn-loop.safetensors", dir);

    /* uninterrupted, without checkpoints */
    ModelSelection sel;
    KillableScore score = {.kill_at = -1};
    MultiDeleteStats straight, resumed;
    ASSERT_MSG(run_multidelete(&w, &sel, &score, &straight) == 0, "%s", error_message());
    ASSERT_EQ_INT(straight.selected_epoch, 3);
    ASSERT_EQ_INT(sel.n_scored, 4);
    int64_t n = w.unlearned.params.total;
    float *want = malloc((size_t)n * sizeof *want);
    memcpy(want, w.unlearned.params.values, (size_t)n * sizeof *want);
    ModelSelection kept = sel;
    sel.best_values = NULL; /* kept owns them now */

    /* killed while scoring epoch 5: the checkpoint after epoch 4 is the last */
    loop_set_checkpoint_dir(dir);
    score = (KillableScore){.kill_at = 2};
    ASSERT(run_multidelete(&w, &sel, &score, &resumed) == -1);
    ASSERT_STR_CONTAINS(error_message(), "killed while scoring");
    ASSERT(file_exists(state));
    model_selection_free(&sel);

    /* resumed in a fresh model and selector: epochs 5 and 6 are run and scored */
    score = (KillableScore){.calls = 2, .kill_at = -1};
    int rc = run_multidelete(&w, &sel, &score, &resumed);
    loop_set_checkpoint_dir(NULL);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_EQ_INT(score.calls, 4);
    ASSERT(!file_exists(state)); /* a finished loop leaves no state behind */

    ASSERT_EQ_INT(resumed.selected_epoch, 3); /* epoch 4's parameters, restored from the checkpoint */
    ASSERT_EQ_INT(resumed.steps, straight.steps);
    ASSERT(memcmp(w.unlearned.params.values, want, (size_t)n * sizeof *want) == 0);
    ASSERT_EQ_INT(sel.n_scored, kept.n_scored);
    ASSERT_EQ_INT(sel.best, kept.best);
    ASSERT(memcmp(sel.epochs, kept.epochs, sizeof sel.epochs) == 0);
    ASSERT(memcmp(sel.scores, kept.scores, (size_t)sel.n_scored * sizeof *sel.scores) == 0);
    ASSERT(memcmp(sel.best_values, kept.best_values, (size_t)n * sizeof *want) == 0);
    const double a[] = {straight.first_md, straight.first_mkr, straight.first_ukr,
                        straight.last_md,  straight.last_mkr,  straight.last_ukr};
    const double b[] = {resumed.first_md, resumed.first_mkr, resumed.first_ukr,
                        resumed.last_md,  resumed.last_mkr,  resumed.last_ukr};
    ASSERT(memcmp(a, b, sizeof a) == 0);
    ASSERT(straight.first_md != straight.last_md); /* the terms changed: epoch 1's were restored, not recomputed */

    model_selection_free(&sel);
    model_selection_free(&kept);
    free(want);
    world_close(&w);
}
