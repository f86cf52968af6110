/* eval/verdict.h: the shift of Df-vs-unseen from the original toward Retrain
 * and its bootstrap interval, on scores built so the answer is known. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/verdict.h"
#include "tests/test.h"

#define N 200

/* Scores: unseen ~ U(0, 1); Df ~ U(0, 1) + lift, so a larger lift = a higher Df-vs-unseen. */
static void scores(double lift, uint64_t stream, double *df, double *unseen) {
    for (int k = 0; k < N; k++) {
        df[k] = philox_uniform(9, stream, (uint64_t)k) + lift;
        unseen[k] = philox_uniform(9, stream + 1, (uint64_t)k);
    }
}

TEST(test_verdict_reads_movement_toward_retrain_with_an_interval) {
    double df_o[N], un_o[N], df_r[N], un_r[N], df_u[N], un_u[N];
    scores(0.4, 10, df_o, un_o); /* memorised: Df-vs-unseen ~ 82 */
    scores(0.0, 20, df_r, un_r); /* Retrain: ~ 50 */
    scores(0.2, 30, df_u, un_u); /* half way: ~ 68 */
    VerdictShift v;
    verdict_df_vs_unseen(df_o, df_r, df_u, N, un_o, un_r, un_u, N, 1, 500, 1, &v);
    ASSERT(v.original > 75 && v.original < 90);
    ASSERT(v.retrain > 42 && v.retrain < 58);
    ASSERT_NEAR(v.shift, v.unlearned - v.original, 1e-9);
    ASSERT(v.shift_lo < v.shift && v.shift < v.shift_hi && v.shift_hi < 0); /* moved, interval below 0 */
    ASSERT(v.gap_hi < 0);
    ASSERT(v.fraction > 0.2 && v.fraction < 0.8);
    char text[512];
    verdict_sentence(&v, "Df vs unseen", "multidelete", text, sizeof text);
    ASSERT_STR_CONTAINS(text, "toward Retrain");
    /* Same seed, same replicates. */
    VerdictShift again;
    verdict_df_vs_unseen(df_o, df_r, df_u, N, un_o, un_r, un_u, N, 1, 500, 1, &again);
    ASSERT(memcmp(&v, &again, sizeof v) == 0);

    /* An unlearned model equal to the original: zero shift, inside its interval. */
    verdict_df_vs_unseen(df_o, df_r, df_o, N, un_o, un_r, un_o, N, 1, 500, 1, &v);
    ASSERT(v.shift == 0.0 && v.shift_lo == 0.0 && v.shift_hi == 0.0);
    verdict_sentence(&v, "Df vs unseen", "multidelete", text, sizeof text);
    ASSERT_STR_CONTAINS(text, "did not move measurably");

    /* Retrain no different from the original: no fraction, said so. */
    verdict_df_vs_unseen(df_o, df_o, df_u, N, un_o, un_o, un_u, N, 1, 500, 1, &v);
    ASSERT(isnan(v.fraction));
    verdict_sentence(&v, "Df vs unseen", "multidelete", text, sizeof text);
    ASSERT_STR_CONTAINS(text, "nothing to move toward");
}

/* Several score columns (a classification task's class columns): the AUC is
 * the mean over columns, so two copies of one column read as that column. */
TEST(test_verdict_columns_average_the_column_aucs) {
    double df_o[N], un_o[N], df_r[N], un_r[N], df_u[N], un_u[N];
    scores(0.4, 10, df_o, un_o);
    scores(0.0, 20, df_r, un_r);
    scores(0.2, 30, df_u, un_u);
    double two[6][2 * N];
    const double *one[6] = {df_o, df_r, df_u, un_o, un_r, un_u};
    for (int s = 0; s < 6; s++)
        for (int k = 0; k < N; k++) two[s][2 * k] = two[s][2 * k + 1] = one[s][k];
    VerdictShift v1, v2;
    verdict_df_vs_unseen(df_o, df_r, df_u, N, un_o, un_r, un_u, N, 1, 200, 3, &v1);
    verdict_df_vs_unseen(two[0], two[1], two[2], N, two[3], two[4], two[5], N, 2, 200, 3, &v2);
    ASSERT_NEAR(v2.original, v1.original, 1e-9);
    ASSERT_NEAR(v2.shift_lo, v1.shift_lo, 1e-9);
    ASSERT_NEAR(v2.gap_hi, v1.gap_hi, 1e-9);
    /* a second column that ranks Df below unseen pulls the mean toward the complement */
    for (int k = 0; k < N; k++) two[0][2 * k + 1] = -df_o[k], two[3][2 * k + 1] = -un_o[k];
    verdict_df_vs_unseen(two[0], two[1], two[2], N, two[3], two[4], two[5], N, 2, 200, 3, &v2);
    ASSERT_NEAR(v2.original, 50.0, 1e-9); /* (x + (100 − x)) / 2 */
}
