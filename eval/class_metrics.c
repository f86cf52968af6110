#include "eval/class_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "eval/auc.h"

void class_score_columns(int k, int *first, int *n_columns) {
    *first = k == 2 ? 1 : 0;
    *n_columns = k == 2 ? 1 : k;
}

int class_probs_check(const float *probs, const int64_t *items, int64_t n, int k, const char *set) {
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++)
            if (!isfinite(probs[i * k + c])) {
                if (items)
                    return error_set("class probabilities of %s row %lld (item %lld): column %d is %g", set,
                                     (long long)i, (long long)items[i], c, (double)probs[i * k + c]);
                return error_set("class probabilities of %s row %lld: column %d is %g", set, (long long)i, c,
                                 (double)probs[i * k + c]);
            }
    return 0;
}

static int argmax(const float *p, int k) {
    int best = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[best]) best = c;
    return best;
}

int class_accuracy_from_probs(const float *probs, const int32_t *labels, int64_t n, int k, ClassAccuracy *out) {
    CHECK(k >= 1 && k <= CLASS_MAX_CLASSES, "class accuracy: %d classes", k);
    if (class_probs_check(probs, NULL, n, k, "the test split") < 0) return -1;
    memset(out, 0, sizeof *out);
    out->n_classes = k;
    out->n = n;
    int64_t right = 0, right_of[CLASS_MAX_CLASSES] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return error_set("class accuracy: test row %lld has label %d, outside the %d classes", (long long)i,
                             labels[i], k);
        int hit = argmax(probs + i * k, k) == labels[i];
        right += hit;
        right_of[labels[i]] += hit;
        out->class_count[labels[i]]++;
    }
    out->accuracy = n ? 100.0 * (double)right / (double)n : NAN;
    for (int c = 0; c < CLASS_MAX_CLASSES; c++)
        out->class_accuracy[c] = c < k && out->class_count[c] ? 100.0 * (double)right_of[c] / (double)out->class_count[c]
                                                              : NAN;
    return 0;
}

/* The scored columns of n rows of probs [n, k] into scores [n, n_columns]. */
static double *scored_columns(const float *probs, int64_t n, int k, int first, int n_columns) {
    double *s = xmalloc((size_t)(n * n_columns + 1) * sizeof *s);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < n_columns; j++) s[i * n_columns + j] = (double)probs[i * k + first + j];
    return s;
}

/* AUC(a label 0, b label 1) of column j of two score blocks with n_columns per row. */
static double column_auc(const double *a, int64_t n_a, const double *b, int64_t n_b, int n_columns, int j) {
    double *scores = xmalloc((size_t)(n_a + n_b + 1) * sizeof *scores);
    int *labels = xmalloc((size_t)(n_a + n_b + 1) * sizeof *labels);
    for (int64_t i = 0; i < n_a; i++) scores[i] = a[i * n_columns + j], labels[i] = 0;
    for (int64_t i = 0; i < n_b; i++) scores[n_a + i] = b[i * n_columns + j], labels[n_a + i] = 1;
    double auc = auc_mann_whitney(scores, labels, n_a + n_b);
    free(scores);
    free(labels);
    return auc;
}

static double mean_column_auc(const double *a, int64_t n_a, const double *b, int64_t n_b, int n_columns) {
    double sum = 0.0;
    for (int j = 0; j < n_columns; j++) sum += column_auc(a, n_a, b, n_b, n_columns, j);
    return sum / n_columns;
}

double class_columns_auc(const float *a, int64_t n_a, const float *b, int64_t n_b, int k) {
    int first, nc;
    class_score_columns(k, &first, &nc);
    double *sa = scored_columns(a, n_a, k, first, nc), *sb = scored_columns(b, n_b, k, first, nc);
    double auc = mean_column_auc(sa, n_a, sb, n_b, nc);
    free(sa);
    free(sb);
    return auc;
}

int class_forget_from_probs(const float *df, int64_t n_df, const float *dr, int n_subsets, const float *unseen,
                            int64_t n_unseen, int k, ClassForget *out) {
    memset(out, 0, sizeof *out);
    if (k < 2 || k > CLASS_MAX_CLASSES) return error_set("class Df metrics: %d classes (2 .. %d)", k, CLASS_MAX_CLASSES);
    if (n_subsets < 1 || n_subsets > FORGET_MAX_SUBSETS)
        return error_set("class Df metrics: %d Dr subsets (1 .. %d)", n_subsets, FORGET_MAX_SUBSETS);
    if (class_probs_check(df, NULL, n_df, k, "Df") < 0 ||
        class_probs_check(dr, NULL, (int64_t)n_subsets * n_df, k, "the Dr subsets") < 0 ||
        class_probs_check(unseen, NULL, n_unseen, k, "the unseen test items") < 0)
        return -1;
    out->n_classes = k;
    class_score_columns(k, &out->first_column, &out->n_columns);
    const int nc = out->n_columns;
    out->n_df = n_df;
    out->n_subsets = n_subsets;
    out->n_unseen = n_unseen;
    out->df_scores = scored_columns(df, n_df, k, out->first_column, nc);
    out->dr_scores = scored_columns(dr, (int64_t)n_subsets * n_df, k, out->first_column, nc);
    out->unseen_scores = scored_columns(unseen, n_unseen, k, out->first_column, nc);
    double sum = 0.0;
    out->df_min = INFINITY;
    out->df_max = -INFINITY;
    for (int c = 0; c < n_subsets; c++)
        for (int j = 0; j < nc; j++) {
            double auc = column_auc(out->df_scores, n_df, out->dr_scores + (int64_t)c * n_df * nc, n_df, nc, j);
            out->aucs[out->n_aucs++] = auc;
            sum += auc;
            out->df_min = fmin(out->df_min, 100.0 * (1.0 - auc));
            out->df_max = fmax(out->df_max, 100.0 * (1.0 - auc));
        }
    out->auc_code = sum / out->n_aucs;
    out->df_reported = 100.0 * (1.0 - out->auc_code);
    out->auc_unseen = out->df_vs_unseen = out->dr_vs_unseen = NAN;
    if (n_unseen > 0) {
        out->auc_unseen = mean_column_auc(out->df_scores, n_df, out->unseen_scores, n_unseen, nc);
        out->df_vs_unseen = 100.0 * (1.0 - out->auc_unseen);
        out->dr_vs_unseen =
            100.0 * (1.0 - mean_column_auc(out->dr_scores, (int64_t)n_subsets * n_df, out->unseen_scores, n_unseen, nc));
    }
    return 0;
}

void class_forget_free(ClassForget *f) {
    free(f->df_scores);
    free(f->dr_scores);
    free(f->unseen_scores);
    memset(f, 0, sizeof *f);
}

int class_item_probs(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                     float *out) {
    static const char *const names[] = {"training", "test", "validation"};
    if (t->item_probs(t, m, split, items, n, batch, out) < 0) return -1;
    char set[64];
    snprintf(set, sizeof set, "the %s %s split", t->name, names[split]);
    return class_probs_check(out, items, n, t->n_classes, set);
}
