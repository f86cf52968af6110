/* eval/class_metrics.h: a classification task's Dt accuracy and Df AUCs on
 * class probabilities (spec/unlearning_methods.md §6.1-6.2), against values
 * computed by hand; a non-finite probability is refused with its set, row,
 * item and column. */
#include <math.h>

#include "core/error.h"
#include "eval/class_metrics.h"
#include "tests/test.h"

/* Three classes, |Df| = 2, two Dr subsets. AUC(Df 0, Dr 1) = the fraction of
 * (Dr, Df) pairs where the Dr item scores higher, ties counting one half:
 *   subset 0: column 0 Df {.7,.2} Dr {.6,.1} -> 1/4; column 1 {.2,.5} {.3,.1} -> 1/4;
 *             column 2 {.1,.3} {.1,.8} -> (0.5 + 2)/4 = 0.625
 *   subset 1: column 0 {.7,.2} {.5,.3} -> 2/4; column 1 {.2,.5} {.4,.3} -> 2/4;
 *             column 2 {.1,.3} {.1,.4} -> 0.625
 * mean 2.75/6, Df = 100·(1 − 2.75/6) = 54.1667, per-AUC Df values 75 75 37.5 50 50 37.5.
 * Unseen {.2,.2,.6}, {.8,.1,.1}: columns 0.625, 0.125, 0.625, mean 1.375/3. */
TEST(test_class_forget_three_classes_matches_hand_computed_aucs) {
    const float df[] = {0.7f, 0.2f, 0.1f, 0.2f, 0.5f, 0.3f};
    const float dr[] = {0.6f, 0.3f, 0.1f, 0.1f, 0.1f, 0.8f, 0.5f, 0.4f, 0.1f, 0.3f, 0.3f, 0.4f};
    const float unseen[] = {0.2f, 0.2f, 0.6f, 0.8f, 0.1f, 0.1f};
    ClassForget f;
    ASSERT_MSG(class_forget_from_probs(df, 2, dr, 2, unseen, 2, 3, &f) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.n_columns, 3);
    ASSERT_EQ_INT(f.first_column, 0);
    ASSERT_EQ_INT(f.n_aucs, 6);
    const double want[] = {0.25, 0.25, 0.625, 0.5, 0.5, 0.625};
    for (int k = 0; k < 6; k++) ASSERT_NEAR(f.aucs[k], want[k], 1e-12);
    ASSERT_NEAR(f.auc_code, 2.75 / 6.0, 1e-12);
    ASSERT_NEAR(f.df_reported, 100.0 * (1.0 - 2.75 / 6.0), 1e-9);
    ASSERT_NEAR(f.df_min, 37.5, 1e-9);
    ASSERT_NEAR(f.df_max, 75.0, 1e-9);
    ASSERT_NEAR(f.auc_unseen, 1.375 / 3.0, 1e-12);
    ASSERT_NEAR(f.df_vs_unseen, 100.0 * (1.0 - 1.375 / 3.0), 1e-9);
    /* Dr vs unseen: the 4 Dr items (label 0) against the unseen ones, the mean over the columns:
     * column 0 Dr {.6,.1,.5,.3} U {.2,.8} -> (1 + 4)/8; column 1 {.3,.1,.4,.3} {.2,.1} -> (1 + 0.5)/8;
     * column 2 {.1,.8,.1,.4} {.6,.1} -> (3 + 1)/8 (the two ties count 0.5 each) */
    ASSERT_NEAR(f.dr_vs_unseen, 100.0 * (1.0 - (5.0 + 1.5 + 4.0) / 24.0), 1e-9);
    /* the scores kept for the files are the probabilities of the scored columns */
    ASSERT_NEAR(f.dr_scores[3 * 3 + 2], 0.4, 1e-7);
    class_forget_free(&f);
}

/* Two classes: column 1 alone (column 0 is its complement, whose AUC is 1 − column 1's). */
TEST(test_class_forget_binary_scores_column_one) {
    const float df[] = {0.3f, 0.7f, 0.6f, 0.4f};
    const float dr[] = {0.5f, 0.5f, 0.1f, 0.9f}; /* column 1 {.5,.9} vs Df {.7,.4}: 3 of 4 pairs above */
    ClassForget f;
    ASSERT_MSG(class_forget_from_probs(df, 2, dr, 1, NULL, 0, 2, &f) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.first_column, 1);
    ASSERT_EQ_INT(f.n_aucs, 1);
    ASSERT_NEAR(f.auc_code, 0.75, 1e-12);
    ASSERT_NEAR(f.df_reported, 25.0, 1e-9);
    ASSERT(isnan(f.df_vs_unseen)); /* no unseen items */
    ASSERT_NEAR(class_columns_auc(df, 2, dr, 2, 2), 0.75, 1e-12);
    class_forget_free(&f);
}

TEST(test_class_accuracy_counts_argmax_against_labels_per_class) {
    const float p[] = {0.1f, 0.7f, 0.2f, /* 1 */ 0.5f, 0.3f, 0.2f, /* 0 */ 0.2f, 0.3f, 0.5f, /* 2 */
                       0.3f, 0.6f, 0.1f /* 1 */};
    const int32_t labels[] = {1, 0, 1, 1};
    ClassAccuracy a;
    ASSERT_MSG(class_accuracy_from_probs(p, labels, 4, 3, &a) == 0, "%s", error_message());
    ASSERT_NEAR(a.accuracy, 75.0, 1e-12);
    ASSERT_NEAR(a.class_accuracy[0], 100.0, 1e-12);
    ASSERT_NEAR(a.class_accuracy[1], 200.0 / 3.0, 1e-12);
    ASSERT(isnan(a.class_accuracy[2])); /* no item of label 2 */
    ASSERT_EQ_INT(a.class_count[1], 3);
    const int32_t bad[] = {1, 0, 3, 1};
    ASSERT_EQ_INT(class_accuracy_from_probs(p, bad, 4, 3, &a), -1);
    ASSERT_STR_CONTAINS(error_message(), "row 2 has label 3");
    error_clear();
}

TEST(test_class_metrics_refuse_a_nan_probability) {
    const float df[] = {0.3f, 0.7f, 0.6f, 0.4f};
    const float dr[] = {0.5f, 0.5f, 0.1f, NAN};
    ClassForget f;
    ASSERT_EQ_INT(class_forget_from_probs(df, 2, dr, 1, NULL, 0, 2, &f), -1);
    ASSERT_STR_CONTAINS(error_message(), "the Dr subsets row 1: column 1 is nan");
    ASSERT(f.df_scores == NULL); /* nothing allocated, nothing to free */
    const int64_t items[] = {40, 17};
    ASSERT_EQ_INT(class_probs_check(dr, items, 2, 2, "Df"), -1);
    ASSERT_STR_CONTAINS(error_message(), "Df row 1 (item 17): column 1 is nan");
    const float inf[] = {INFINITY, 0.0f};
    const int32_t label[] = {0};
    ClassAccuracy a;
    ASSERT_EQ_INT(class_accuracy_from_probs(inf, label, 1, 2, &a), -1);
    ASSERT_STR_CONTAINS(error_message(), "column 0 is inf");
    error_clear();
}
