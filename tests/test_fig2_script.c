/* bench/fig2_time.sh (the paper's Figure 2, timed with the programs) on the
 * CPU with the tiny model: every phase runs, and the table's step counts are
 * the recipe's arithmetic, so a broken phase, parse or extrapolation fails.
 * albef-tiny recipe (unlearn/recipe.c): MultiDelete 5 epochs of Df batch 16,
 * Retrain 12 epochs of batch 32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test.h"

TEST(test_fig2_script_times_multidelete_and_extrapolates_retrain) {
    char work[512], cmd[2048];
    test_tmp_path(work, sizeof work, "fig2_time");
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    snprintf(cmd, sizeof cmd, "bash bench/fig2_time.sh --bin %s --work %s --df 20 --budget 300 2>&1", bin, work);
    int status;
    char *buf = test_run_command(cmd, &status);
    ASSERT(buf != NULL);
    ASSERT_MSG(status == 0, "status %d: %s", status, buf);
    /* |Df| = 20 images = 100 pairs: 100 / 16 = 6 steps per epoch, 5 epochs. */
    ASSERT_STR_CONTAINS(buf, "| MultiDelete, measured | 30 |");
    ASSERT_STR_CONTAINS(buf, "100 Df pairs (20 images), 5 epochs, Df batch 16");
    /* The small world: 400 images, 40 deleted: Dr = 1,800 pairs, 56 steps of 32. */
    ASSERT_STR_CONTAINS(buf, "| Retrain, one epoch measured (small world's Dr) | 56 |");
    /* The large world: 6 x 20 + 20 = 140 images, 700 pairs, Dr 600: 18 steps x 12 epochs. */
    ASSERT_STR_CONTAINS(buf, "| Retrain on this world's Dr, extrapolated | 216 |");
    /* Flickr30K: 145,000 - 100 pairs: 4,528 steps x 12 epochs. */
    ASSERT_STR_CONTAINS(buf, "| Retrain on Flickr30K's Dr (145,000 pairs less 5 per deleted image), extrapolated | 54336 |");
    ASSERT(strstr(buf, "not run") == NULL && strstr(buf, "FAILED") == NULL);
    free(buf);
}
