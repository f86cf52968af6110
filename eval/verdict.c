#include "eval/verdict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "eval/auc.h"

#define VERDICT_STREAM 0x7665726469637400ULL /* "verdict" */


/* 100·(1 − AUC(a label 0, b label 1)) over rows a[ia[k]] and b[ib[k]], the
 * AUC being the mean over the rows' `cols` columns. */
static double auc_percent(const double *a, const int64_t *ia, int64_t n_a, const double *b, const int64_t *ib,
                          int64_t n_b, int cols, double *scores, int *labels) {
    double sum = 0.0;
    for (int j = 0; j < cols; j++) {
        for (int64_t k = 0; k < n_a; k++) scores[k] = a[ia[k] * cols + j], labels[k] = 0;
        for (int64_t k = 0; k < n_b; k++) scores[n_a + k] = b[ib[k] * cols + j], labels[n_a + k] = 1;
        sum += auc_mann_whitney(scores, labels, n_a + n_b);
    }
    return 100.0 * (1.0 - sum / cols);
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The 2.5th and 97.5th percentiles of v[n] (sorted in place; nearest rank). */
static void interval95(double *v, int n, double *lo, double *hi) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *lo = v[(int)floor(0.025 * (n - 1) + 0.5)];
    *hi = v[(int)floor(0.975 * (n - 1) + 0.5)];
}

void verdict_df_vs_unseen(const double *df_o, const double *df_r, const double *df_u, int64_t n_df,
                          const double *unseen_o, const double *unseen_r, const double *unseen_u, int64_t n_unseen,
                          int columns, int n_boot, uint64_t seed, VerdictShift *out) {
    CHECK(n_df > 0 && n_unseen > 0 && n_boot > 0 && columns > 0,
          "verdict: %lld Df pairs, %lld unseen pairs, %d columns, %d replicates", (long long)n_df, (long long)n_unseen,
          columns, n_boot);
    int64_t n = n_df + n_unseen;
    int64_t *ia = xmalloc((size_t)n_df * sizeof *ia), *ib = xmalloc((size_t)n_unseen * sizeof *ib);
    double *scores = xmalloc((size_t)n * sizeof *scores), *shift = xmalloc((size_t)n_boot * sizeof *shift);
    double *gap = xmalloc((size_t)n_boot * sizeof *gap);
    int *labels = xmalloc((size_t)n * sizeof *labels);
    for (int64_t k = 0; k < n_df; k++) ia[k] = k;
    for (int64_t k = 0; k < n_unseen; k++) ib[k] = k;
    out->original = auc_percent(df_o, ia, n_df, unseen_o, ib, n_unseen, columns, scores, labels);
    out->retrain = auc_percent(df_r, ia, n_df, unseen_r, ib, n_unseen, columns, scores, labels);
    out->unlearned = auc_percent(df_u, ia, n_df, unseen_u, ib, n_unseen, columns, scores, labels);
    out->shift = out->unlearned - out->original;
    out->gap = out->retrain - out->original;
    Rng r = rng_make(seed, VERDICT_STREAM);
    for (int b = 0; b < n_boot; b++) {
        for (int64_t k = 0; k < n_df; k++) ia[k] = (int64_t)rng_below(&r, (uint64_t)n_df);
        for (int64_t k = 0; k < n_unseen; k++) ib[k] = (int64_t)rng_below(&r, (uint64_t)n_unseen);
        double o = auc_percent(df_o, ia, n_df, unseen_o, ib, n_unseen, columns, scores, labels);
        shift[b] = auc_percent(df_u, ia, n_df, unseen_u, ib, n_unseen, columns, scores, labels) - o;
        gap[b] = auc_percent(df_r, ia, n_df, unseen_r, ib, n_unseen, columns, scores, labels) - o;
    }
    interval95(shift, n_boot, &out->shift_lo, &out->shift_hi);
    interval95(gap, n_boot, &out->gap_lo, &out->gap_hi);
    /* A fraction of a gap that may be zero means nothing. */
    out->fraction = out->gap_lo > 0.0 || out->gap_hi < 0.0 ? out->shift / out->gap : NAN;
    free(ia), free(ib), free(scores), free(shift), free(gap), free(labels);
}

void verdict_sentence(const VerdictShift *v, const char *metric, const char *name, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s: original %.1f, Retrain %.1f, %s %.1f. ", metric, v->original, v->retrain, name,
                     v->unlearned);
    if (n < 0 || (size_t)n >= size) return;
    char *p = buf + n;
    size_t left = size - (size_t)n;
    if (isnan(v->fraction)) {
        snprintf(p, left,
                 "Retrain is not measurably apart from the original here (%+.1f, 95%% interval %+.1f to %+.1f), so "
                 "there is nothing to move toward; %s moved %+.1f (%+.1f to %+.1f).",
                 v->gap, v->gap_lo, v->gap_hi, name, v->shift, v->shift_lo, v->shift_hi);
    } else if (v->shift_lo <= 0.0 && v->shift_hi >= 0.0) {
        snprintf(p, left,
                 "%s did not move measurably (%+.1f points, 95%% bootstrap interval over the pairs %+.1f to %+.1f) "
                 "of the %+.1f (%+.1f to %+.1f) to Retrain.",
                 name, v->shift, v->shift_lo, v->shift_hi, v->gap, v->gap_lo, v->gap_hi);
    } else {
        int toward = (v->shift > 0) == (v->gap > 0);
        snprintf(p, left,
                 "%s moved %+.1f points (95%% bootstrap interval over the pairs %+.1f to %+.1f) %s Retrain, %.0f%% "
                 "of the %+.1f (%+.1f to %+.1f) between them%s.",
                 name, v->shift, v->shift_lo, v->shift_hi, toward ? "toward" : "away from", 100.0 * v->fraction,
                 v->gap, v->gap_lo, v->gap_hi, toward && v->fraction > 1.0 ? ", past Retrain" : "");
    }
}
