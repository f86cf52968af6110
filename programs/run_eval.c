#include "programs/run_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "eval/retrieval_eval.h"
#include "models/pair_outputs.h"
#include "models/task_retrieval.h"

/* Philox stream of the attacker's Dr member sample ("mimembr" in ASCII),
 * apart from the streams of the Df/Dr evaluation subsets and the unseen sample. */
#define RUN_EVAL_MI_MEMBER_STREAM 0x6d696d656d6272ULL

void run_evaluation_init(RunEvaluation *e, const RunContext *ctx, const char *method) {
    memset(e, 0, sizeof *e);
    e->mi_feature = MI_FEATURE_ENTROPY;
    e->mi_power = e->mi2_power = NAN;
    /* The score files name each training item by its deletion key and text
     * (caption, hypothesis or statement, PGR sentence). */
    const PgrSamples *rows = &ctx->pgr.split[PGR_SPLIT_TRAIN];
    int retrieval = ctx->task.kind == TASK_RETRIEVAL, cls = ctx->cls_train.n > 0, pgr = rows->key != NULL;
    int64_t n = ctx->task.n_items[TASK_SPLIT_TRAIN];
    e->pair_keys = xmalloc((size_t)(n + 1) * sizeof *e->pair_keys);
    e->pair_texts = xmalloc((size_t)(n + 1) * sizeof *e->pair_texts);
    for (int64_t t = 0; t < n; t++) {
        e->pair_keys[t] = retrieval ? retrieval_set_pair_key(&ctx->train, t)
                          : cls     ? ctx->cls_train.keys[t]
                          : pgr     ? rows->key[t]
                                    : NULL;
        e->pair_texts[t] = retrieval ? ctx->train.split.texts[t]
                           : cls     ? ctx->cls_train.sentences[t]
                           : pgr     ? rows->row[t]->sentence
                                     : NULL;
    }
    run_report_init(&e->report, method, e->pair_keys, e->pair_texts);
    e->report.config = ctx->config;
    e->report.method_details = ctx->method_details;
    e->report.method_notes = ctx->method_notes;
}

void run_evaluation_free(RunEvaluation *e) {
    for (int k = 0; k < e->n; k++) forget_metrics_free(&e->forget[k]);
    for (int k = 0; k < e->n; k++) class_forget_free(&e->class_forget[k]);
    free(e->pair_keys);
    free(e->pair_texts);
    for (int k = 1; k < RUN_EVAL_MI_SPLITS; k++) mi_attacker_free(e->mi_splits[k]);
    mi_attacker_free(e->mi2_attacker);
    free(e->mi2_df_before);
    mi_attacker_free(e->mi_attacker);
    free(e->mi_ctrl_pairs);
    free(e->mi_df_before);
    free(e->mi_ctrl_before);
    memset(e, 0, sizeof *e);
}

/* FNV-1a (over 32-bit words) of the online parameter values: recognises θ0 itself (or a copy)
 * among the evaluated models, whose MI row is then 1 by construction. */
static uint64_t params_hash(const ParamSet *p) {
    uint64_t h = FNV1A_INIT ^ (uint64_t)p->total;
    float *host = NULL; /* device parameters are hashed from a host copy */
    if (p->device != DEVICE_CPU) {
        host = xmalloc((size_t)p->total * sizeof *host);
        device_copy(host, DEVICE_CPU, p->values, p->device, (size_t)p->total * sizeof *host);
    }
    const float *v = host ? host : p->values;
    /* One 32-bit word per step (not per byte): ALBEF-base has 2e8 values. */
    for (int64_t k = 0; k < p->total; k++) {
        uint32_t bits;
        memcpy(&bits, &v[k], sizeof bits);
        h = (h ^ bits) * 1099511628211ULL;
    }
    free(host);
    return h;
}

static const RetrievalSet *retrieval_split(const RunContext *ctx, TaskSplit split) {
    return split == TASK_SPLIT_TRAIN ? &ctx->train : split == TASK_SPLIT_TEST ? &ctx->test : &ctx->val;
}

/* Items of a split: retrieval's pairs as its set holds them now, another task's count. */
static int64_t split_items(const RunContext *ctx, TaskSplit split) {
    return ctx->task.kind == TASK_RETRIEVAL ? retrieval_split(ctx, split)->split.n_texts : ctx->task.n_items[split];
}

/* The attacker's features φ of n items of a split under model m (§6.3 item
 * 1): p = the task's output distribution, φ = H(p) or p. Retrieval: softmax(ITM
 * logits) of each (image, own caption) pair; classification: the class
 * probabilities (Task.item_probs). */
static int mi_pair_features(const RunEvaluation *e, const RunContext *ctx, TaskModel *m, TaskSplit split,
                            const int64_t *pairs, int64_t n, int batch, double *out) {
    const Task *t = &ctx->task;
    float *probs = xmalloc((size_t)(n * t->n_classes + 1) * sizeof *probs);
    int rc = t->kind == TASK_RETRIEVAL ? pair_itm_probs(task_albef(m), retrieval_split(ctx, split), pairs, n, batch, probs)
                                       : class_item_probs(t, m, split, pairs, n, batch, probs);
    if (rc == 0) mi_features(probs, n, t->n_classes, e->mi_feature, out);
    free(probs);
    return rc;
}

/* k of the n Dr pairs, uniform without replacement (partial Fisher-Yates
 * with Philox): the attacker's members, ascending so the data order does not
 * hang on the shuffle, then k_held more, the held-out members its power is
 * measured on (the first k are the same whatever k_held is). */
static int64_t *sample_pairs(const int64_t *dr, int64_t n, int64_t k, int64_t k_held, uint64_t seed) {
    int64_t *idx = xmalloc((size_t)n * sizeof *idx);
    memcpy(idx, dr, (size_t)n * sizeof *idx);
    Rng r = rng_make(seed, RUN_EVAL_MI_MEMBER_STREAM);
    rng_sample_i64(&r, idx, n, k + k_held);
    qsort(idx, (size_t)k, sizeof *idx, cmp_i64);
    qsort(idx + k, (size_t)k_held, sizeof *idx, cmp_i64);
    return idx;
}

/* The second attacker's features (run_eval.h): (H(p_ITM), cos_ITC) of n
 * pairs, from their entropies (dim 1) and the model's ITC scores. */
static int mi2_pair_features(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch,
                             const double *entropy, double *out) {
    double *itc = xmalloc((size_t)n * sizeof *itc);
    int rc = forget_pair_scores(m, s, pairs, n, batch, 0, itc);
    for (int64_t k = 0; rc == 0 && k < n; k++) {
        out[2 * k] = entropy[k];
        out[2 * k + 1] = log(itc[k] / (1.0 - itc[k])); /* the cosine back from σ(cos) */
    }
    free(itc);
    return rc;
}

/* The attackers' power (eval/mi_attack.h): held-out members = n_held Dr pairs
 * outside their training members, non-members = as many test pairs, all under θ0. */
static int mi_measure_power(RunEvaluation *e, RunContext *ctx, TaskModel *original, const int64_t *held, int64_t n_held) {
    e->mi_power = e->mi2_power = NAN;
    if (n_held < 1) return 0;
    const int batch = ctx->recipe.batch_eval;
    int64_t *test_pairs = xmalloc((size_t)n_held * sizeof *test_pairs);
    for (int64_t t = 0; t < n_held; t++) test_pairs[t] = t;
    double *f_held = xmalloc((size_t)n_held * sizeof(double)), *f_test = xmalloc((size_t)n_held * sizeof(double));
    double *g_held = xmalloc((size_t)n_held * 2 * sizeof(double)), *g_test = xmalloc((size_t)n_held * 2 * sizeof(double));
    int rc = mi_pair_features(e, ctx, original, TASK_SPLIT_TRAIN, held, n_held, batch, f_held);
    if (rc == 0) rc = mi_pair_features(e, ctx, original, TASK_SPLIT_TEST, test_pairs, n_held, batch, f_test);
    if (rc == 0) e->mi_power = e->report.mi_power = mi_attacker_auc(e->mi_attacker, f_held, n_held, f_test, n_held);
    if (rc == 0 && e->mi2_attacker)
        rc = mi2_pair_features(task_albef(original), &ctx->train, held, n_held, batch, f_held, g_held);
    if (rc == 0 && e->mi2_attacker)
        rc = mi2_pair_features(task_albef(original), &ctx->test, test_pairs, n_held, batch, f_test, g_test);
    if (rc == 0 && e->mi2_attacker) e->mi2_power = e->report.mi2_power = mi_attacker_auc(e->mi2_attacker, g_held, n_held, g_test, n_held);
    free(test_pairs), free(f_held), free(f_test), free(g_held), free(g_test);
    return rc;
}

int run_evaluation_set_original(RunEvaluation *e, RunContext *ctx, TaskModel *original) {
    const int retrieval = ctx->task.kind == TASK_RETRIEVAL;
    CHECK(e->n == 0, "run_evaluation_set_original: call it before adding rows");
    CHECK(e->mi_attacker == NULL, "run_evaluation_set_original: called twice");
    const int64_t n_val = split_items(ctx, TASK_SPLIT_VAL), n_dr = ctx->split.n_dr, n_df = ctx->eval_sets.n_df;
    if (n_val < 1 || n_dr < 1 || n_df < 1) {
        log_warn("membership inference skipped: %s", n_val < 1 ? "no validation items (flickr30k_val.json, ve_dev.json, "
                                                                 "nlvr_dev.json) for the attacker's non-members"
                                                  : n_dr < 1 ? "no retained pairs for the attacker's members"
                                                             : "empty Df");
        return 0;
    }
    const int batch = ctx->recipe.batch_eval;
    const uint64_t seed = (uint64_t)ctx->flags.seed;
    MiOptions opt = mi_options_default();
    opt.seed = seed;
    /* §6.3 item 2: members = a uniform Dr sample as large as the validation
     * set (all of Dr when smaller). Sampling the pairs before running the
     * model (rather than mi_attacker_train_balanced over every Dr feature)
     * costs |Dv| forward passes instead of |Dr|: 145k on Flickr30K. */
    const int64_t n_mem = n_val < n_dr ? n_val : n_dr, n_test = split_items(ctx, TASK_SPLIT_TEST);
    int64_t n_held = n_test < n_dr - n_mem ? n_test : n_dr - n_mem;
    int64_t *members = sample_pairs(ctx->split.dr, n_dr, n_mem, n_held, seed);
    int64_t *val_pairs = xmalloc((size_t)n_val * sizeof *val_pairs);
    for (int64_t t = 0; t < n_val; t++) val_pairs[t] = t;
    const int dim = e->mi_feature == MI_FEATURE_ENTROPY ? 1 : ctx->task.n_classes;
    double *f_mem = xmalloc((size_t)(n_mem * dim) * sizeof(double));
    double *f_val = xmalloc((size_t)(n_val * dim) * sizeof(double));
    /* Item 5's control: the first Dr evaluation subset (|Df| pairs, drawn by
     * data/deletion.c), the same Dr pairs the Df metric's first AUC uses. */
    const int64_t n_ctrl = ctx->eval_sets.n_subsets >= 1 ? n_df : 0;
    e->mi_ctrl_pairs = xmalloc((size_t)n_ctrl * sizeof *e->mi_ctrl_pairs);
    if (n_ctrl) memcpy(e->mi_ctrl_pairs, ctx->eval_sets.dr_subsets, (size_t)n_ctrl * sizeof *e->mi_ctrl_pairs);
    e->mi_df_before = xmalloc((size_t)(n_df * dim) * sizeof(double));
    e->mi_ctrl_before = xmalloc((size_t)(n_ctrl * dim) * sizeof(double));
    log_info("membership inference: attacker on the original model's %s (%lld validation %s as non-members, %lld "
             "Dr %s as members)", retrieval ? "ITM outputs" : "class probabilities", (long long)n_val,
             retrieval ? "pairs" : "items", (long long)n_mem, retrieval ? "pairs" : "items");
    int rc = mi_pair_features(e, ctx, original, TASK_SPLIT_TRAIN, members, n_mem, batch, f_mem);
    if (rc == 0) rc = mi_pair_features(e, ctx, original, TASK_SPLIT_VAL, val_pairs, n_val, batch, f_val);
    if (rc == 0) rc = mi_pair_features(e, ctx, original, TASK_SPLIT_TRAIN, ctx->eval_sets.df, n_df, batch, e->mi_df_before);
    if (rc == 0)
        rc = mi_pair_features(e, ctx, original, TASK_SPLIT_TRAIN, e->mi_ctrl_pairs, n_ctrl, batch, e->mi_ctrl_before);
    if (rc == 0 && !(e->mi_attacker = mi_attacker_train(f_mem, n_mem, f_val, n_val, dim, &opt))) rc = -1;
    e->mi_splits[0] = e->mi_attacker;
    for (int k = 1; k < RUN_EVAL_MI_SPLITS && rc == 0; k++) {
        MiOptions split = opt;
        split.seed = seed + 1000003ULL * (uint64_t)k; /* another fold split, the same data */
        if (!(e->mi_splits[k] = mi_attacker_train(f_mem, n_mem, f_val, n_val, dim, &split))) rc = -1;
    }
    if (rc == 0 && dim == 1 && retrieval) { /* the second attacker, on (H, cos) */
        Albef *a = task_albef(original);
        double *g_mem = xmalloc((size_t)n_mem * 2 * sizeof(double)), *g_val = xmalloc((size_t)n_val * 2 * sizeof(double));
        e->mi2_df_before = xmalloc((size_t)n_df * 2 * sizeof(double));
        rc = mi2_pair_features(a, &ctx->train, members, n_mem, batch, f_mem, g_mem);
        if (rc == 0) rc = mi2_pair_features(a, &ctx->val, val_pairs, n_val, batch, f_val, g_val);
        if (rc == 0)
            rc = mi2_pair_features(a, &ctx->train, ctx->eval_sets.df, n_df, batch, e->mi_df_before, e->mi2_df_before);
        if (rc == 0 && !(e->mi2_attacker = mi_attacker_train(g_mem, n_mem, g_val, n_val, 2, &opt))) rc = -1;
        free(g_mem), free(g_val);
    }
    e->mi_dim = dim;
    if (rc == 0) rc = mi_measure_power(e, ctx, original, members + n_mem, n_held);
    free(members);
    free(val_pairs);
    free(f_mem);
    free(f_val);
    if (rc < 0) {
        free(e->mi_ctrl_pairs);
        free(e->mi_df_before);
        free(e->mi_ctrl_before);
        e->mi_ctrl_pairs = NULL;
        e->mi_df_before = e->mi_ctrl_before = NULL;
        return error_prefix("membership inference on the original model");
    }
    e->mi_n_df = n_df;
    e->mi_n_ctrl = n_ctrl;
    e->mi_df_pairs = ctx->eval_sets.df;
    e->mi_n_val = n_val;
    e->mi_n_members = n_mem;
    e->mi_original_hash = params_hash(original->params);
    log_info("MI attacker: %d support vectors; P(member) of Df under the original %.4f; power: AUC %.4f on "
             "%lld held-out Dr members vs as many test non-members",
             mi_attacker_n_support(e->mi_attacker), mi_existence_probability(e->mi_attacker, e->mi_df_before, n_df),
             e->mi_power, (long long)n_held);
    if (e->mi2_attacker)
        log_info("MI attacker on (ITM entropy, ITC cosine): %d support vectors; power: AUC %.4f",
                 mi_attacker_n_support(e->mi2_attacker), e->mi2_power);
    return 0;
}

/* The ratio P_before / P_after under each fold split's attacker: mean and sd. */
static void mi_split_spread(const RunEvaluation *e, const double *df_after, double *mean, double *sd) {
    double r[RUN_EVAL_MI_SPLITS], sum = 0.0, sq = 0.0;
    for (int k = 0; k < RUN_EVAL_MI_SPLITS; k++) {
        r[k] = mi_existence_probability(e->mi_splits[k], e->mi_df_before, e->mi_n_df) /
               mi_existence_probability(e->mi_splits[k], df_after, e->mi_n_df);
        sum += r[k];
    }
    *mean = sum / RUN_EVAL_MI_SPLITS;
    for (int k = 0; k < RUN_EVAL_MI_SPLITS; k++) sq += (r[k] - *mean) * (r[k] - *mean);
    *sd = sqrt(sq / (RUN_EVAL_MI_SPLITS - 1));
}

/* P_after and the MiReport of one model (§6.3 items 4-5), the ratio's spread
 * over fold splits, and the second attacker's ratio. */
static int mi_evaluate(RunEvaluation *e, RunContext *ctx, TaskModel *m, MiReport *out, double *split_mean,
                       double *split_sd, double *ratio2) {
    const int64_t n_df = e->mi_n_df, n_ctrl = e->mi_n_ctrl;
    const int dim = e->mi_dim;
    *ratio2 = NAN;
    /* Retrieval recognises θ0 by its parameters (no mask over its image tokens);
     * another task computes its features again, which are θ0's (eval mode is deterministic). */
    if (ctx->task.kind == TASK_RETRIEVAL && params_hash(m->params) == e->mi_original_hash &&
        task_albef(m)->image_token_mask == NULL) {
        /* θ0 itself: its features are the ones the attacker already holds. */
        mi_split_spread(e, e->mi_df_before, split_mean, split_sd);
        if (e->mi2_attacker) *ratio2 = 1.0;
        return mi_report_compute(e->mi_attacker, e->mi_df_before, e->mi_df_before, n_df, e->mi_ctrl_before,
                                 e->mi_ctrl_before, n_ctrl, out);
    }
    double *df_after = xmalloc((size_t)(n_df * dim) * sizeof(double));
    double *ctrl_after = xmalloc((size_t)(n_ctrl * dim) * sizeof(double));
    const int batch = ctx->recipe.batch_eval;
    int rc = mi_pair_features(e, ctx, m, TASK_SPLIT_TRAIN, e->mi_df_pairs, n_df, batch, df_after);
    if (rc == 0) rc = mi_pair_features(e, ctx, m, TASK_SPLIT_TRAIN, e->mi_ctrl_pairs, n_ctrl, batch, ctrl_after);
    if (rc == 0)
        rc = mi_report_compute(e->mi_attacker, e->mi_df_before, df_after, n_df, e->mi_ctrl_before, ctrl_after, n_ctrl,
                               out);
    if (rc == 0) mi_split_spread(e, df_after, split_mean, split_sd);
    if (rc == 0 && e->mi2_attacker) {
        double *g_after = xmalloc((size_t)n_df * 2 * sizeof(double));
        rc = mi2_pair_features(task_albef(m), &ctx->train, e->mi_df_pairs, n_df, batch, df_after, g_after);
        if (rc == 0)
            *ratio2 = mi_existence_probability(e->mi2_attacker, e->mi2_df_before, n_df) /
                      mi_existence_probability(e->mi2_attacker, g_after, n_df);
        free(g_after);
    }
    free(df_after);
    free(ctrl_after);
    return rc;
}

/* Dt accuracy on every test item, and the class-column Df metrics of the
 * evaluation sets (eval/class_metrics.h) into fm. */
static int class_evaluate(RunContext *ctx, TaskModel *m, ClassAccuracy *acc, double *dt_seconds,
                          ClassForget *fm, double *df_seconds) {
    const Task *t = &ctx->task;
    const DeletionEvalSets *es = &ctx->eval_sets;
    const int k = t->n_classes, batch = ctx->recipe.batch_eval;
    const int64_t n_test = t->n_items[TASK_SPLIT_TEST], n_df = es->n_df, n_dr = (int64_t)es->n_subsets * n_df;
    if (!t->item_label) return error_set("%s: the task has no labels to measure accuracy against", t->name);
    if (n_test < 1) return error_set("%s: no test items for Dt accuracy", t->name);
    int64_t *test = xmalloc((size_t)n_test * sizeof *test), *unseen = xmalloc((size_t)(n_df + 1) * sizeof *unseen);
    int32_t *labels = xmalloc((size_t)n_test * sizeof *labels);
    float *p_test = xmalloc((size_t)(n_test * k) * sizeof *p_test), *p_df = xmalloc((size_t)(n_df * k + 1) * sizeof *p_df);
    float *p_dr = xmalloc((size_t)(n_dr * k + 1) * sizeof *p_dr), *p_unseen = xmalloc((size_t)(n_df * k + 1) * sizeof *p_unseen);
    int rc = 0;
    double t0 = clock_seconds();
    for (int64_t i = 0; i < n_test && rc == 0; i++) {
        test[i] = i;
        if ((labels[i] = t->item_label(t, TASK_SPLIT_TEST, i)) < 0) rc = -1;
    }
    if (rc == 0) rc = class_item_probs(t, m, TASK_SPLIT_TEST, test, n_test, batch, p_test);
    if (rc == 0) rc = class_accuracy_from_probs(p_test, labels, n_test, k, acc);
    *dt_seconds = clock_seconds() - t0;
    t0 = clock_seconds();
    /* Df vs unseen: the same seeded sample of |Df| test items as retrieval's (forget_metrics.h) */
    int64_t n_unseen = forget_sample_unseen(n_test, n_df, (uint64_t)ctx->flags.seed, unseen);
    for (int64_t i = 0; i < n_unseen; i++) memcpy(p_unseen + i * k, p_test + unseen[i] * k, (size_t)k * sizeof *p_unseen);
    if (rc == 0) rc = class_item_probs(t, m, TASK_SPLIT_TRAIN, es->df, n_df, batch, p_df);
    if (rc == 0) rc = class_item_probs(t, m, TASK_SPLIT_TRAIN, es->dr_subsets, n_dr, batch, p_dr);
    if (rc == 0) rc = class_forget_from_probs(p_df, n_df, p_dr, es->n_subsets, p_unseen, n_unseen, k, fm);
    *df_seconds = clock_seconds() - t0;
    free(test), free(unseen), free(labels), free(p_test), free(p_df), free(p_dr), free(p_unseen);
    return rc;
}

/* Dt and Df of a retrieval model into the row (recall with the ITM rerank; the pairs' ITC cosine). */
static int retrieval_add(RunEvaluation *e, RunContext *ctx, Albef *m, const char *name, ModelResult **row_out) {
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.k_test = ctx->recipe.k_test;
    o.image_batch = o.text_batch = o.pair_batch = ctx->recipe.batch_eval;
    RetrievalEvalResult dt;
    if (retrieval_eval_run(m, &ctx->test, &o, &dt) < 0) return error_prefix("evaluating %s on the test split", name);
    ForgetMetrics *fm = &e->forget[e->n];
    if (forget_metrics_compute(m, &ctx->train, &ctx->eval_sets, &ctx->test, (uint64_t)ctx->flags.seed,
                               ctx->recipe.batch_eval, 1, fm) < 0) {
        retrieval_eval_result_free(&dt);
        return error_prefix("evaluating %s on Df", name);
    }
    ModelResult *row = run_report_add(&e->report, name);
    model_result_set_dt(row, &dt);
    model_result_set_forget(row, fm);
    if (e->n == 0) run_report_set_pairs(&e->report, fm);
    log_info("%s: Dt R mean %.2f (TR %.2f, IR %.2f); Df %.2f; Df vs unseen %.2f; Dr vs unseen %.2f", name,
             dt.recall.r_mean, dt.recall.tr_mean, dt.recall.ir_mean, fm->df_reported, fm->df_vs_unseen,
             fm->dr_vs_unseen);
    retrieval_eval_result_free(&dt);
    *row_out = row;
    return 0;
}

/* Dt and Df of a classification model into the row. */
static int class_add(RunEvaluation *e, RunContext *ctx, TaskModel *m, const char *name, ModelResult **row_out) {
    ClassAccuracy acc;
    ClassForget *fm = &e->class_forget[e->n];
    double dt_seconds = -1.0, df_seconds = -1.0;
    if (class_evaluate(ctx, m, &acc, &dt_seconds, fm, &df_seconds) < 0) {
        class_forget_free(fm);
        return error_prefix("evaluating %s", name);
    }
    ModelResult *row = run_report_add(&e->report, name);
    model_result_set_accuracy(row, &acc);
    model_result_set_class_forget(row, fm);
    row->dt_seconds = dt_seconds;
    row->df_seconds = df_seconds;
    if (e->n == 0)
        run_report_set_classes(&e->report, ctx->task.n_classes, ctx->eval_sets.n_df, ctx->eval_sets.df,
                               ctx->eval_sets.n_subsets, ctx->eval_sets.dr_subsets);
    log_info("%s: Dt accuracy %.2f; Df %.2f (%d AUCs, %.2f to %.2f); Df vs unseen %.2f; Dr vs unseen %.2f", name,
             acc.accuracy, fm->df_reported, fm->n_aucs, fm->df_min, fm->df_max, fm->df_vs_unseen, fm->dr_vs_unseen);
    *row_out = row;
    return 0;
}

int run_evaluation_add(RunEvaluation *e, RunContext *ctx, TaskModel *tm, const char *name, double time_seconds) {
    CHECK(e->n < REPORT_MAX_MODELS, "too many models in one report");
    log_info("evaluating %s", name);
    ModelResult *row = NULL;
    if ((ctx->task.kind == TASK_RETRIEVAL ? retrieval_add(e, ctx, task_albef(tm), name, &row)
                                          : class_add(e, ctx, tm, name, &row)) < 0)
        return -1;
    e->n++;
    row->time_seconds = time_seconds;
    MiReport mi;
    double split_mean = NAN, split_sd = NAN, ratio2 = NAN;
    if (e->mi_attacker && mi_evaluate(e, ctx, tm, &mi, &split_mean, &split_sd, &ratio2) < 0)
        return error_prefix("membership inference of %s", name);
    if (e->mi_attacker) {
        model_result_set_mi(row, &mi);
        row->mi_ratio_mean = split_mean;
        row->mi_ratio_sd = split_sd;
        row->mi_n_splits = RUN_EVAL_MI_SPLITS;
        row->mi2_ratio = ratio2;
        log_info("%s: MI ratio %.4f, %.4f ± %.4f over %d fold splits (P(member) of Df %.4f -> %.4f; per-sample %.4f; labelled member %.3f -> %.3f; "
                 "Dr control ratio %.4f)", name, mi.ratio, split_mean, split_sd, RUN_EVAL_MI_SPLITS, mi.p_before, mi.p_after, mi.per_sample_ratio,
                 mi.hard_before, mi.hard_after, mi.control_ratio);
    }
    return 0;
}

int run_evaluation_finish(RunEvaluation *e, const RunContext *ctx) {
    if (run_report_write(&e->report, ctx->run_dir) < 0) return -1;
    printf("\n");
    run_report_print_summary(&e->report, stdout);
    if (ctx->method_summary[0]) printf("\n%s\n", ctx->method_summary);
    printf("\nrun directory: %s (metrics.json, report.md, scores_df.csv, scores_dr.csv, train.log)\n", ctx->out_dir);
    return 0;
}
