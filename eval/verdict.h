/* Whether an unlearned model moved from the original toward Retrain, and how
 * far, with the uncertainty of the Df sample (issue: "a verdict the user can
 * read"). The Df draw alone moves Df-vs-unseen by several points, so a
 * difference between two models is only read as movement when its bootstrap
 * interval excludes zero.
 *
 * Bootstrap (percentile, 95%): each replicate resamples the Df pairs and the
 * unseen pairs with replacement, the same indices for all three models (they
 * score the same pairs), and recomputes each model's AUC; the interval of a
 * shift is the 2.5th and 97.5th percentiles of its replicates. */
#ifndef EVAL_VERDICT_H
#define EVAL_VERDICT_H

#include <stddef.h>
#include <stdint.h>

/* One metric of three models: values on the full sample and the shifts. */
typedef struct {
    double original, retrain, unlearned;
    double shift, shift_lo, shift_hi; /* unlearned − original, and its 95% interval */
    double gap, gap_lo, gap_hi;       /* retrain − original: the way to go, and its interval */
    double fraction;                  /* shift / gap: 0 = stayed, 1 = reached Retrain (NaN without a gap) */
} VerdictShift;

/* Df-vs-unseen (forget_metrics.h: 100·(1 − AUC(Df 0, unseen 1))) of the
 * three models from their per-pair scores: df_* [n_df, columns] over the same
 * Df pairs, unseen_* [n_unseen, columns] over the same unseen pairs; with
 * several score columns (a classification task's class columns,
 * eval/class_metrics.h) the AUC is the mean over columns. n_boot replicates,
 * drawn with Philox from seed. */
void verdict_df_vs_unseen(const double *df_o, const double *df_r, const double *df_u, int64_t n_df,
                          const double *unseen_o, const double *unseen_r, const double *unseen_u, int64_t n_unseen,
                          int columns, int n_boot, uint64_t seed, VerdictShift *out);

/* One or two plain sentences about a shift of `metric` (e.g. "Df vs unseen"):
 * whether `name` moved toward Retrain, by how much, with the intervals; no
 * claim beyond them. */
void verdict_sentence(const VerdictShift *v, const char *metric, const char *name, char *buf, size_t size);

#endif
