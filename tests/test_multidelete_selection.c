/* MultiDelete's model selection (spec/unlearning_methods.md §5.3 item 5,
 * unlearn/model_selection.h): scored only from the 3rd epoch on, the epoch
 * with the highest (Dt + AUC_code)/2 is the one whose parameters the loop
 * leaves in θ (checked by parameter hashes recorded while scoring), the
 * held-out Dr subset avoids the reported subsets, and the validation scorer
 * computes what it says on the tiny world. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "data/deletion.h"
#include "eval/auc.h"
#include "eval/forget_metrics.h"
#include "eval/report.h"
#include "eval/retrieval_eval.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/loop.h"
#include "unlearn/model_selection.h"
#include "unlearn/multidelete_loop.h"

static uint64_t params_hash(const Albef *m) {
    uint64_t h = 1469598103934665603ULL;
    for (int64_t k = 0; k < m->params.total; k++) {
        uint32_t bits;
        memcpy(&bits, &m->params.values[k], sizeof bits);
        h = (h ^ bits) * 1099511628211ULL;
    }
    return h;
}

/* A scorer that returns scripted (dt, auc) per call and records the model's
 * parameter hash at each call. */
typedef struct {
    int calls;
    EpochScore script[8];
    uint64_t hash[8];
} Scripted;

static int scripted_score(void *ctx, TaskModel *m, EpochScore *out) {
    Scripted *s = ctx;
    s->hash[s->calls] = params_hash(task_albef(m));
    *out = s->script[s->calls++];
    return 0;
}

typedef struct {
    Tokenizer *tok;
    Albef original, unlearned;
    TaskModel t_original, t_unlearned; /* over the two */
    RetrievalSet train, val;
    Task task;
    DeletionSplit split;
} Fixture;

/* Df = the 5 captions of image 0, Dr = the other 55 pairs. */
static int fixture_open(Fixture *f) {
    memset(f, 0, sizeof *f);
    if (!(f->tok = eval_world_tokenizer())) return -1;
    if (eval_world_model(&f->original, f->tok, 3) < 0 || eval_world_model(&f->unlearned, f->tok, 3) < 0) return -1;
    if (eval_world_set(&f->train, "train", f->tok, &f->original.cfg) < 0) return -1;
    if (eval_world_set(&f->val, "val", f->tok, &f->original.cfg) < 0) return -1;
    task_retrieval_init(&f->task, &f->original.cfg, &f->train, NULL, &f->val);
    f->t_original = task_retrieval_wrap(&f->original);
    f->t_unlearned = task_retrieval_wrap(&f->unlearned);
    int64_t n = f->train.split.n_texts;
    f->split.df = malloc((size_t)n * sizeof(int64_t));
    f->split.dr = malloc((size_t)n * sizeof(int64_t));
    for (int64_t t = 0; t < n; t++) {
        if (f->train.split.txt2img[t] == 0) f->split.df[f->split.n_df++] = t;
        else f->split.dr[f->split.n_dr++] = t;
    }
    f->split.n_units = 1;
    return 0;
}

static void fixture_close(Fixture *f) {
    deletion_split_free(&f->split);
    retrieval_set_free(&f->train);
    retrieval_set_free(&f->val);
    albef_free(&f->original);
    albef_free(&f->unlearned);
    tokenizer_free(f->tok);
}

/* 5 epochs of one step each (5 Df pairs, half-batches of 4) at a large lr, so
 * every epoch leaves different parameters. */
static MultiDeleteRun five_epochs(ModelSelection *sel) {
    return (MultiDeleteRun){.lr = 1e-3, .min_lr = 1e-4, .epochs = 5, .batch_df = 4, .augment = 0, .seed = 7,
                            .loss = multidelete_default_options(), .select = sel};
}

TEST(test_model_selection_keeps_the_best_epoch_from_the_third_on) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    /* Scores of epochs 3, 4, 5: (40+50)/2 = 45, (60+70)/2 = 65, (50+60)/2 = 55.
     * The last epoch is not the best and the best Dt alone (60) and AUC alone
     * (70) both point at epoch 4, so epoch 4 it must be. */
    Scripted sc = {.script = {{40, 50, 0}, {60, 70, 0}, {50, 60, 0}}};
    ModelSelection sel;
    model_selection_init(&sel, 2, scripted_score, &sc);
    MultiDeleteRun run = five_epochs(&sel);
    MultiDeleteStats st;
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT_EQ_INT(st.steps, 5);
    /* epochs 1 and 2 are never scored */
    ASSERT_EQ_INT(sc.calls, 3);
    ASSERT_EQ_INT(sel.n_scored, 3);
    ASSERT_EQ_INT(sel.epochs[0], 2);
    ASSERT_EQ_INT(sel.epochs[2], 4);
    ASSERT_NEAR(sel.scores[1].score, 65.0, 1e-12);
    ASSERT_EQ_INT(model_selection_best_epoch(&sel), 3);
    ASSERT_EQ_INT(st.selected_epoch, 3);
    /* every epoch left different parameters... */
    ASSERT(sc.hash[0] != sc.hash[1] && sc.hash[1] != sc.hash[2]);
    /* ...and θ now holds the 4th epoch's, not the last one's */
    uint64_t h = params_hash(&f.unlearned);
    ASSERT(h == sc.hash[1]);
    ASSERT(h != sc.hash[2]);

    /* The report names the rule, the candidates and the choice (1-based). */
    cJSON *j = model_selection_to_json(&sel, 5);
    ASSERT_EQ_INT(cJSON_GetObjectItem(j, "selected_epoch")->valuedouble, 4);
    ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "candidates")), 3);
    ASSERT(strstr(cJSON_GetObjectItem(j, "rule")->valuestring, "(Dt + AUC_code)/2") != NULL);
    cJSON_Delete(j);
    char *md = model_selection_to_markdown(&sel, 5);
    ASSERT(strstr(md, "Selected: epoch 4 of 5") != NULL);
    free(md);
    model_selection_free(&sel);

    /* Without selection the same run ends on the last epoch's parameters,
     * which equal the ones the scorer saw after epoch 5 (determinism). */
    params_copy_values(&f.unlearned.params, &f.original.params);
    run.select = NULL;
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT_EQ_INT(st.selected_epoch, 4);
    ASSERT(params_hash(&f.unlearned) == sc.hash[2]);
    fixture_close(&f);
}

TEST(test_model_selection_ties_keep_the_earlier_epoch_and_too_few_epochs_keep_the_last) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    /* Equal scores (70+30 = 30+70 = 50+50): the first maximum, epoch 3. */
    Scripted sc = {.script = {{70, 30, 0}, {30, 70, 0}, {50, 50, 0}}};
    ModelSelection sel;
    model_selection_init(&sel, 2, scripted_score, &sc);
    MultiDeleteRun run = five_epochs(&sel);
    MultiDeleteStats st;
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT_EQ_INT(st.selected_epoch, 2);
    ASSERT(params_hash(&f.unlearned) == sc.hash[0]);
    model_selection_free(&sel);

    /* Two epochs: no candidate, the last epoch stays and the report says so. */
    params_copy_values(&f.unlearned.params, &f.original.params);
    Scripted none = {0};
    model_selection_init(&sel, 2, scripted_score, &none);
    run.epochs = 2;
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT_EQ_INT(none.calls, 0);
    ASSERT_EQ_INT(st.selected_epoch, 1);
    ASSERT_EQ_INT(model_selection_best_epoch(&sel), -1);
    char *md = model_selection_to_markdown(&sel, 2);
    ASSERT(strstr(md, "the last epoch is kept") != NULL);
    free(md);
    model_selection_free(&sel);
    fixture_close(&f);
}

TEST(test_validation_scorer_holds_out_dr_pairs_outside_the_reported_subsets) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    DeletionEvalSets sets;
    ASSERT_MSG(deletion_eval_sets(&f.split, DELETION_EVAL_SUBSETS, 5, &sets) == 0, "%s", error_message());
    ValidationScorer v, again;
    ASSERT_MSG(validation_scorer_init(&v, &f.val, &f.train, &f.split, &sets, 5, 4, 8) == 0, "%s", error_message());
    ASSERT_MSG(validation_scorer_init(&again, &f.val, &f.train, &f.split, &sets, 5, 4, 8) == 0, "%s",
               error_message());
    /* |Df| = 5 pairs held out, from the 55 - 25 Dr pairs no subset uses */
    ASSERT_EQ_INT(v.n_heldout, 5);
    ASSERT(memcmp(v.heldout_dr, again.heldout_dr, 5 * sizeof(int64_t)) == 0);
    for (int64_t k = 0; k < v.n_heldout; k++) {
        int64_t p = v.heldout_dr[k];
        ASSERT(f.train.split.txt2img[p] != 0); /* not Df */
        for (int64_t u = 0; u < (int64_t)sets.n_subsets * sets.n_df; u++) ASSERT(sets.dr_subsets[u] != p);
        if (k) ASSERT(p > v.heldout_dr[k - 1]);
    }
    validation_scorer_free(&again);

    /* The scorer's numbers: validation mean recall and 100·AUC(Df 0, held-out 1). */
    EpochScore e;
    ASSERT_MSG(validation_scorer_score(&v, &f.t_unlearned, &e) == 0, "%s", error_message());
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.k_test = 4;
    o.image_batch = o.text_batch = o.pair_batch = 8;
    o.progress = 0;
    RetrievalEvalResult r;
    ASSERT_MSG(retrieval_eval_run(&f.unlearned, &f.val, &o, &r) == 0, "%s", error_message());
    ASSERT_NEAR(e.dt, r.recall.r_mean, 1e-9);
    retrieval_eval_result_free(&r);
    double s[10];
    int labels[10];
    ASSERT(forget_pair_scores(&f.unlearned, &f.train, f.split.df, 5, 8, 0, s) == 0);
    ASSERT(forget_pair_scores(&f.unlearned, &f.train, v.heldout_dr, 5, 8, 0, s + 5) == 0);
    for (int k = 0; k < 10; k++) labels[k] = k >= 5;
    ASSERT_NEAR(e.auc_code, 100.0 * auc_mann_whitney(s, labels, 10), 1e-9);
    autograd_step_end();
    /* NaN features: told apart from a failure, no metric computed */
    tensor_f32(params_find(&f.unlearned.params, "text_proj.weight"))[0] = NAN;
    ASSERT(validation_scorer_score(&v, &f.t_unlearned, &e) == MODEL_SCORE_NONFINITE);
    ASSERT_STR_CONTAINS(error_message(), "the model's features are not finite");
    validation_scorer_free(&v);

    /* Every Dr pair in a reported subset: nothing left to hold out. */
    DeletionSplit small = f.split;
    small.n_dr = 25;
    small.dr = sets.dr_subsets;
    ASSERT(validation_scorer_init(&v, &f.val, &f.train, &small, &sets, 5, 4, 8) == -1);
    ASSERT(strstr(error_message(), "no held-out Dr subset") != NULL);
    deletion_eval_sets_free(&sets);
    fixture_close(&f);
}

TEST(test_multidelete_selection_details_reach_metrics_json_and_report_md) {
    const char *keys[1] = {"k"}, *texts[1] = {"t"};
    RunReport r;
    run_report_init(&r, "multidelete", keys, texts);
    cJSON *details = cJSON_CreateObject();
    cJSON *sel = cJSON_AddObjectToObject(details, "model_selection");
    cJSON_AddNumberToObject(sel, "selected_epoch", 4);
    r.method_details = details;
    r.method_notes = "Model selection: Selected: epoch 4 of 5.\n";
    char path[1024];
    test_tmp_path(path, sizeof path, "selection_metrics.json");
    ASSERT_MSG(run_report_write_metrics_json(&r, path) == 0, "%s", error_message());
    cJSON *root = json_read_file(path);
    ASSERT(root != NULL);
    cJSON *got = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "method_details"), "model_selection");
    ASSERT(got != NULL);
    ASSERT_EQ_INT(cJSON_GetObjectItem(got, "selected_epoch")->valuedouble, 4);
    cJSON_Delete(root);
    test_tmp_path(path, sizeof path, "selection_report.md");
    ASSERT_MSG(run_report_write_markdown(&r, path) == 0, "%s", error_message());
    size_t n;
    char *md = file_read_all(path, &n);
    ASSERT(md != NULL);
    ASSERT(strstr(md, "Selected: epoch 4 of 5.") != NULL);
    free(md);
    cJSON_Delete(details);
}

/* A scripted scorer that, at call `poison_at`, also puts a NaN into one
 * parameter, as a diverging update would. */
typedef struct {
    Scripted base;
    int poison_at;
} Poisoning;

static int poisoning_score(void *ctx, TaskModel *m, EpochScore *out) {
    Poisoning *p = ctx;
    int call = p->base.calls;
    int rc = scripted_score(&p->base, m, out);
    if (call == p->poison_at) task_albef(m)->params.values[17] = NAN;
    return rc;
}

TEST(test_model_selection_disqualifies_nonfinite_scores_and_diverged_epochs) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    /* a NaN score is no candidate: the finite ones still compete (45 vs 55) */
    Scripted sc = {.script = {{40, 50, 0}, {NAN, 70, 0}, {50, 60, 0}}};
    ModelSelection sel;
    model_selection_init(&sel, 2, scripted_score, &sc);
    MultiDeleteRun run = five_epochs(&sel);
    MultiDeleteStats st;
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT_EQ_INT(sel.n_scored, 3);
    ASSERT_EQ_INT(st.selected_epoch, 4);
    ASSERT(params_hash(&f.unlearned) == sc.hash[2]);
    cJSON *j = model_selection_to_json(&sel, 5);
    const cJSON *second = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "candidates"), 1);
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(second, "disqualified")));
    cJSON_Delete(j);
    model_selection_free(&sel);

    /* parameters going NaN after epoch 4: the loop ends there (named), and
     * selection keeps the best epoch scored before, not the diverged one */
    params_copy_values(&f.unlearned.params, &f.original.params);
    Poisoning p = {.base = {.script = {{60, 70, 0}, {40, 50, 0}, {90, 90, 0}}}, .poison_at = 1};
    model_selection_init(&sel, 2, poisoning_score, &p);
    run = five_epochs(&sel);
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT(st.diverged);
    ASSERT_STR_CONTAINS(st.diverged_at, "unlearn epoch 4 step 0: loss is ");
    ASSERT_EQ_INT(p.base.calls, 2); /* epoch 5 never ran */
    ASSERT_EQ_INT(st.selected_epoch, 2);
    ASSERT(params_hash(&f.unlearned) == p.base.hash[0]);
    for (int64_t k = 0; k < f.unlearned.params.total; k++) ASSERT(isfinite(f.unlearned.params.values[k]));
    model_selection_free(&sel);

    /* without selection, the same divergence fails the run, naming it */
    params_copy_values(&f.unlearned.params, &f.original.params);
    run.select = NULL;
    run.lr = 1e30;
    int rc = multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                 f.split.n_dr, &run, &st);
    ASSERT(rc == -1);
    ASSERT_STR_CONTAINS(error_message(), "unlearn epoch 1 step 0: loss is "); /* 1e30-sized weights overflow */
    fixture_close(&f);
}

/* Scripted, but the second call meets non-finite outputs (as the validation
 * scorer does on a model with NaN features and finite parameters). */
static int nonfinite_second_score(void *ctx, TaskModel *m, EpochScore *out) {
    Scripted *s = ctx;
    if (s->calls == 1) {
        s->hash[s->calls++] = params_hash(task_albef(m));
        error_set("validation Dt: the ITC score of image 0 and caption 0 is nan: the model's features are not finite");
        return MODEL_SCORE_NONFINITE;
    }
    return scripted_score(ctx, m, out);
}

TEST(test_multidelete_selection_disqualifies_an_epoch_with_nonfinite_outputs_and_ends) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    Scripted sc = {.script = {{40, 50, 0}, {0, 0, 0}, {90, 90, 0}}};
    ModelSelection sel;
    model_selection_init(&sel, 2, nonfinite_second_score, &sc);
    MultiDeleteRun run = five_epochs(&sel);
    MultiDeleteStats st;
    ASSERT_MSG(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                                   f.split.n_dr, &run, &st) == 0,
               "%s", error_message());
    ASSERT_EQ_INT(sc.calls, 2); /* epoch 5 never ran */
    ASSERT(st.diverged);
    ASSERT_STR_CONTAINS(st.diverged_at, "unlearn epoch 3: model selection after epoch 4 (disqualified): validation "
                                        "Dt: the ITC score of image 0 and caption 0 is nan");
    ASSERT_EQ_INT(st.selected_epoch, 2); /* epoch 3, scored before */
    ASSERT(params_hash(&f.unlearned) == sc.hash[0]);
    ASSERT_EQ_INT(sel.n_scored, 2);
    ASSERT(isnan(sel.scores[1].dt) && isnan(sel.scores[1].score)); /* no metric over it */
    cJSON *j = model_selection_to_json(&sel, 5);
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "candidates"), 1),
                                            "disqualified")));
    cJSON_Delete(j);
    model_selection_free(&sel);

    /* the same at the first scored epoch: nothing to keep, the run fails naming it */
    params_copy_values(&f.unlearned.params, &f.original.params);
    sc = (Scripted){.calls = 1};
    model_selection_init(&sel, 2, nonfinite_second_score, &sc);
    ASSERT(multidelete_unlearn(&f.task, &f.t_unlearned, &f.t_original, f.split.df, f.split.n_df, f.split.dr,
                               f.split.n_dr, &run, &st) == -1);
    ASSERT_STR_CONTAINS(error_message(), "unlearn epoch 2: model selection after epoch 3 (disqualified)");
    ASSERT_STR_CONTAINS(error_message(), "model selection holds no earlier epoch: no usable model");
    model_selection_free(&sel);
    fixture_close(&f);
}

/* The loop's per-epoch parameter check: a weight that became infinite in the
 * last update of an epoch (the loss of that step was still finite) is named. */
typedef struct {
    const Task *task;
    TaskModel *model;
} PoisonLoop;

static Tensor *poison_loop_loss(void *ctx, LoopStep *s, double *value) {
    PoisonLoop *p = ctx;
    TaskLossOptions o = {.epoch = s->epoch, .step_in_epoch = s->it, .steps_per_epoch = s->iters, .sample_seed = 1,
                         .sample_stream = (uint64_t)s->step};
    TaskLossOutput out;
    Tensor *loss = p->task->loss(p->task, p->model, &s->batch, &o, &out);
    if (loss) *value = tensor_f32(loss)[0];
    return loss;
}

static void poison_loop_after_step(void *ctx, LoopStep *s) {
    PoisonLoop *p = ctx;
    if (s->epoch == 0 && s->it == s->iters - 1) tensor_f32(params_find(p->model->params, "itm_head.weight"))[5] = INFINITY;
}

TEST(test_loop_names_a_parameter_that_became_nonfinite) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    PoisonLoop p = {&f.task, &f.t_unlearned};
    LoopConfig c = {.name = "poisoned", .task = &f.task, .model = &f.t_unlearned, .items = f.split.dr,
                    .n_items = 16, .epochs = 2, .batch = 8, .seed = 3, .lr = 1e-4, .min_lr = 1e-5, .warmup_lr = 1e-4,
                    .hooks = {.loss = poison_loop_loss, .after_step = poison_loop_after_step, .ctx = &p}};
    loop_use_lavis_adamw(&c, 0.02);
    LoopStats st;
    int rc = loop_run(&c, &st);
    fixture_close(&f);
    ASSERT(rc == -1);
    ASSERT_STR_CONTAINS(error_message(), "poisoned epoch 0: parameter itm_head.weight holds a non-finite value "
                                         "(element 5) after the update");
    ASSERT_EQ_INT(st.steps, 2); /* epoch 1 never ran */
}
