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
