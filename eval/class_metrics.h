/* Dt and Df of a classification task (SNLI-VE, NLVR2, PGR) from its items'
 * class probabilities, Task.item_probs (spec/unlearning_methods.md §6.1-6.2):
 *
 *   Dt accuracy   = 100 · the fraction of test items whose argmax class is
 *                   their label (Task.item_label); per class, the same over
 *                   the items of that label.
 *   Df            = the AUC of Df items (label 0) against each of the 5 Dr
 *                   subsets (label 1), one AUC per scored class column:
 *                   binary tasks score column 1 only (column 0 = 1 − it ranks
 *                   the pairs in reverse: its AUC is 1 − column 1's), tasks of
 *                   three or more classes every column (VE: 5 × 3 = 15 AUCs).
 *                   AUC_code = their mean, Df = 100·(1 − AUC_code): Df as the
 *                   positive class, 50 = indistinguishable, lower = forgotten.
 *                   The range of the per-column Df values is kept beside it.
 *   Df vs unseen  = the same columns, Df against a sample of test items (the
 *                   mean over columns): 50 is ideal (DESIGN.md "Metrics").
 *   Dr vs unseen  = the same with the Dr subsets' items in place of Df.
 *
 * A probability that is not finite stops the evaluation with the set, the
 * row (and the item, where the caller knows it) and the column: an AUC over
 * NaN ranks nothing. */
#ifndef EVAL_CLASS_METRICS_H
#define EVAL_CLASS_METRICS_H

#include <stdint.h>

#include "data/deletion.h"
#include "eval/forget_metrics.h"
#include "models/task.h"

#define CLASS_MAX_CLASSES 8
#define CLASS_MAX_AUCS (FORGET_MAX_SUBSETS * CLASS_MAX_CLASSES)

typedef struct {
    int n_classes;
    int64_t n;
    double accuracy;                           /* % */
    double class_accuracy[CLASS_MAX_CLASSES];  /* % of the items of each label; NaN when a label has none */
    int64_t class_count[CLASS_MAX_CLASSES];    /* items of each label */
} ClassAccuracy;

typedef struct {
    int n_classes;
    int n_columns, first_column; /* the scored columns: first_column .. first_column + n_columns − 1 */
    int64_t n_df, n_unseen;
    int n_subsets;
    /* Per-item scores, the scored columns of each item's probabilities (row-major, n_columns per item):
     * df [n_df], dr [n_subsets · n_df] (subset c is rows c·n_df ..), unseen [n_unseen]. Owned. */
    double *df_scores, *dr_scores, *unseen_scores;
    double aucs[CLASS_MAX_AUCS]; /* AUC(Df 0, Dr_c 1) of column j at [c · n_columns + j] */
    int n_aucs;
    double auc_code;             /* their mean (§6.2 step 3) */
    double df_reported;          /* 100·(1 − auc_code) */
    double df_min, df_max;       /* the range of 100·(1 − AUC) over the n_aucs values */
    double auc_unseen;           /* the mean over columns of AUC(Df 0, unseen 1); NaN without unseen items */
    double df_vs_unseen;         /* 100·(1 − auc_unseen) */
    double dr_vs_unseen;         /* 100·(1 − mean over columns of AUC(Dr subsets 0, unseen 1)) */
} ClassForget;

/* The class columns the Df AUCs score for a task of k classes (see above). */
void class_score_columns(int k, int *first, int *n_columns);

/* 0 when every entry of probs [n, k] is finite, else -1 with error_set naming
 * `set`, the row, its item (when items is not NULL) and the column. */
int class_probs_check(const float *probs, const int64_t *items, int64_t n, int k, const char *set);

/* Accuracy of probs [n, k] against labels [n] (each in [0, k)). -1 with
 * error_set for a non-finite probability or a label outside the classes. */
int class_accuracy_from_probs(const float *probs, const int32_t *labels, int64_t n, int k, ClassAccuracy *out);

/* The Df metrics from probabilities: df [n_df, k], dr [n_subsets · n_df, k],
 * unseen [n_unseen, k] (n_unseen may be 0: the unseen metrics are NaN).
 * -1 with error_set for a non-finite probability, k outside
 * [2, CLASS_MAX_CLASSES] or n_subsets outside [1, FORGET_MAX_SUBSETS]. */
/* The mean over the scored class columns of AUC(a label 0, b label 1), from
 * probabilities a [n_a, k] and b [n_b, k] (finite: the caller checked them). */
double class_columns_auc(const float *a, int64_t n_a, const float *b, int64_t n_b, int k);

int class_forget_from_probs(const float *df, int64_t n_df, const float *dr, int n_subsets, const float *unseen,
                            int64_t n_unseen, int k, ClassForget *out);
void class_forget_free(ClassForget *f);

/* Task.item_probs of n items of `split` under m, checked finite (an error
 * names the split's item). out [n, t->n_classes]. */
int class_item_probs(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                     float *out);

#endif
