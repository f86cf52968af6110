#include "eval/auc.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/finite.h"

typedef struct {
    double score;
    int label;
} Scored;

static int by_score(const void *a, const void *b) {
    double x = ((const Scored *)a)->score, y = ((const Scored *)b)->score;
    return (x > y) - (x < y);
}

double auc_mann_whitney(const double *scores, const int *labels, int64_t n) {
    if (finite_first_bad_f64(scores, n) >= 0) return NAN; /* a NaN sorts anywhere: no ranking exists */
    Scored *items = malloc((size_t)(n > 0 ? n : 1) * sizeof *items);
    CHECK(items != NULL, "out of memory");
    int64_t n_pos = 0;
    for (int64_t k = 0; k < n; k++) {
        items[k] = (Scored){scores[k], labels[k] != 0};
        n_pos += items[k].label;
    }
    int64_t n_neg = n - n_pos;
    if (n_pos == 0 || n_neg == 0) {
        free(items);
        return NAN;
    }
    qsort(items, (size_t)n, sizeof *items, by_score);
    double pos_rank_sum = 0.0;
    for (int64_t k = 0; k < n;) {
        int64_t end = k + 1;
        while (end < n && items[end].score == items[k].score) end++;
        /* Ranks k+1 .. end share their mean. */
        double mean_rank = 0.5 * (double)(k + 1 + end);
        for (int64_t j = k; j < end; j++)
            if (items[j].label) pos_rank_sum += mean_rank;
        k = end;
    }
    free(items);
    return (pos_rank_sum - 0.5 * (double)n_pos * (double)(n_pos + 1)) / ((double)n_pos * (double)n_neg);
}

double auc_df_against_chunks(const double *df_scores, int64_t n_df, const double *dr_scores, int n_chunks) {
    double *scores = malloc((size_t)(2 * n_df + 1) * sizeof *scores);
    int *labels = malloc((size_t)(2 * n_df + 1) * sizeof *labels);
    CHECK(scores && labels, "out of memory");
    double total = 0.0;
    for (int c = 0; c < n_chunks; c++) {
        for (int64_t k = 0; k < n_df; k++) {
            scores[k] = df_scores[k];
            labels[k] = 0;
            scores[n_df + k] = dr_scores[(int64_t)c * n_df + k];
            labels[n_df + k] = 1;
        }
        total += auc_mann_whitney(scores, labels, 2 * n_df);
    }
    free(scores);
    free(labels);
    return total / n_chunks;
}
