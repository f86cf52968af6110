#include "eval/validation_score.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "eval/auc.h"
#include "eval/class_metrics.h"
#include "eval/forget_metrics.h"
#include "eval/retrieval_eval.h"
#include "models/task_retrieval.h"

/* Philox stream of the held-out Dr subset ("mdselect" in ASCII), apart from
 * the streams of the evaluation subsets (data/deletion.c) and the MI sample. */
#define SELECTION_STREAM_HELDOUT 0x6d6473656c656374ULL

/* The held-out Dr subset: min(|Df|, available) Dr pairs outside every reported evaluation subset. */
static int draw_heldout(ValidationScorer *v, const DeletionSplit *split, const DeletionEvalSets *eval_sets,
                        uint64_t seed) {
    /* Dr minus every pair of the reported evaluation subsets. */
    int64_t n_used = (int64_t)eval_sets->n_subsets * eval_sets->n_df;
    int64_t *used = malloc(((size_t)n_used + 1) * sizeof *used);
    int64_t *pool = malloc(((size_t)split->n_dr + 1) * sizeof *pool);
    CHECK(used && pool, "out of memory");
    memcpy(used, eval_sets->dr_subsets, (size_t)n_used * sizeof *used);
    qsort(used, (size_t)n_used, sizeof *used, cmp_i64);
    int64_t n_pool = 0;
    for (int64_t i = 0; i < split->n_dr; i++)
        if (!bsearch(&split->dr[i], used, (size_t)n_used, sizeof *used, cmp_i64)) pool[n_pool++] = split->dr[i];
    free(used);
    if (n_pool < 1) {
        free(pool);
        return error_set("every Dr pair is in a reported evaluation subset (Dr %lld pairs, %lld used): no "
                         "held-out Dr subset is left", (long long)split->n_dr, (long long)n_used);
    }
    int64_t k = split->n_df < n_pool ? split->n_df : n_pool;
    Rng r = rng_make(seed, SELECTION_STREAM_HELDOUT);
    rng_sample_i64(&r, pool, n_pool, k);
    qsort(pool, (size_t)k, sizeof *pool, cmp_i64);
    v->df = split->df;
    v->n_df = split->n_df;
    v->heldout_dr = pool;
    v->n_heldout = k;
    return 0;
}

int validation_scorer_init(ValidationScorer *v, const RetrievalSet *val, const RetrievalSet *train,
                           const DeletionSplit *split, const DeletionEvalSets *eval_sets, uint64_t seed, int k_test,
                           int batch) {
    memset(v, 0, sizeof *v);
    if (val->split.n_images < 1)
        return error_set("no validation split (flickr30k_val.json) for the selection's Dt");
    if (draw_heldout(v, split, eval_sets, seed) < 0) return -1;
    v->val = val;
    v->train = train;
    v->k_test = k_test;
    v->batch = batch;
    return 0;
}

int validation_scorer_init_task(ValidationScorer *v, const Task *task, const DeletionSplit *split,
                                const DeletionEvalSets *eval_sets, uint64_t seed, int batch) {
    memset(v, 0, sizeof *v);
    if (task->n_items[TASK_SPLIT_VAL] < 1 || !task->item_label)
        return error_set("no labelled validation split of the %s task for the selection's Dt", task->name);
    if (draw_heldout(v, split, eval_sets, seed) < 0) return -1;
    v->task = task;
    v->batch = batch;
    return 0;
}

/* A classification task's score: validation accuracy, and the mean over
 * the scored class columns of AUC(Df 0, held-out Dr 1) (eval/class_metrics.h). */
static int score_classification(const ValidationScorer *v, TaskModel *m, EpochScore *out) {
    const Task *t = v->task;
    const int k = t->n_classes;
    const int64_t n_val = t->n_items[TASK_SPLIT_VAL];
    int64_t *items = xmalloc((size_t)n_val * sizeof *items);
    int32_t *labels = xmalloc((size_t)n_val * sizeof *labels);
    float *p_val = xmalloc((size_t)(n_val * k) * sizeof *p_val);
    float *p_df = xmalloc((size_t)(v->n_df * k + 1) * sizeof *p_df);
    float *p_held = xmalloc((size_t)(v->n_heldout * k + 1) * sizeof *p_held);
    int rc = 0;
    for (int64_t i = 0; i < n_val && rc == 0; i++) {
        items[i] = i;
        if ((labels[i] = t->item_label(t, TASK_SPLIT_VAL, i)) < 0) rc = -1;
    }
    ClassAccuracy acc;
    if (rc == 0) rc = class_item_probs(t, m, TASK_SPLIT_VAL, items, n_val, v->batch, p_val);
    if (rc == 0) rc = class_accuracy_from_probs(p_val, labels, n_val, k, &acc);
    if (rc < 0) error_prefix("validation Dt");
    if (rc == 0) rc = class_item_probs(t, m, TASK_SPLIT_TRAIN, v->df, v->n_df, v->batch, p_df);
    if (rc == 0) rc = class_item_probs(t, m, TASK_SPLIT_TRAIN, v->heldout_dr, v->n_heldout, v->batch, p_held);
    if (rc == 0) {
        out->dt = acc.accuracy;
        out->auc_code = 100.0 * class_columns_auc(p_df, v->n_df, p_held, v->n_heldout, k);
    }
    free(items), free(labels), free(p_val), free(p_df), free(p_held);
    return rc;
}

void validation_scorer_free(ValidationScorer *v) {
    free(v->heldout_dr);
    memset(v, 0, sizeof *v);
}

int validation_scorer_score(void *ctx, TaskModel *tm, EpochScore *out) {
    const ValidationScorer *v = ctx;
    if (v->task) {
        int rc = score_classification(v, tm, out);
        autograd_step_end();
        return rc;
    }
    Albef *m = task_albef(tm);
    albef_set_mode(m, 0, 0);
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.k_test = v->k_test;
    o.image_batch = o.text_batch = o.pair_batch = v->batch;
    o.progress = 0;
    RetrievalEvalResult r;
    int rc = retrieval_eval_run(m, v->val, &o, &r);
    if (rc == RETRIEVAL_EVAL_NONFINITE) {
        error_prefix("validation Dt");
        return MODEL_SCORE_NONFINITE;
    }
    if (rc < 0) return error_prefix("validation Dt");
    out->dt = r.recall.r_mean;
    retrieval_eval_result_free(&r);
    int64_t n = v->n_df + v->n_heldout;
    double *scores = malloc((size_t)n * sizeof *scores);
    int *labels = malloc((size_t)n * sizeof *labels);
    CHECK(scores && labels, "out of memory");
    rc = forget_pair_scores(m, v->train, v->df, v->n_df, v->batch, 0, scores);
    if (rc == 0) rc = forget_pair_scores(m, v->train, v->heldout_dr, v->n_heldout, v->batch, 0, scores + v->n_df);
    int64_t bad = rc == 0 ? finite_first_bad_f64(scores, n) : -1;
    if (bad >= 0) /* a NaN ranks anywhere and gives a plausible AUC */
        rc = error_set("held-out Df AUC: the ITC cosine of %s pair %lld is %g: the model's features are not finite",
                       bad < v->n_df ? "Df" : "held-out Dr", (long long)(bad < v->n_df ? bad : bad - v->n_df),
                       scores[bad]);
    if (rc == 0) {
        for (int64_t i = 0; i < n; i++) labels[i] = i < v->n_df ? 0 : 1;
        out->auc_code = 100.0 * auc_mann_whitney(scores, labels, n);
    }
    free(scores);
    free(labels);
    autograd_step_end();
    if (bad >= 0) return MODEL_SCORE_NONFINITE;
    return rc < 0 ? error_prefix("held-out Df AUC") : 0;
}
