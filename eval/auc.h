/* ROC-AUC as the Mann-Whitney statistic with ties counted as one half, the
 * value sklearn's roc_auc_score gives (spec/unlearning_methods.md §0):
 * rank all scores (1-based, ties averaged); AUC = (Σ_pos rank − n_pos(n_pos+1)/2) / (n_pos·n_neg). */
#ifndef EVAL_AUC_H
#define EVAL_AUC_H

#include <stdint.h>

/* labels: 1 = positive, 0 = negative. Returns NaN when either class is empty
 * or a score is not finite. */
double auc_mann_whitney(const double *scores, const int *labels, int64_t n);

/* The Df metric of spec §6.2 for per-pair scores: Df scores (label 0) against
 * each of n_chunks consecutive chunks of n_df Dr scores (label 1); returns the
 * mean AUC over chunks (AUC_code). The paper's reported Df is 100·(1 − AUC_code):
 * Df as the positive class, lower = forgotten, 50 = indistinguishable. */
double auc_df_against_chunks(const double *df_scores, int64_t n_df, const double *dr_scores, int n_chunks);

#endif
