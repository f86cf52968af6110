/* AUC against sklearn's roc_auc_score (fixture with ties), the Df chunked AUC,
 * and retrieval recall on hand-made score matrices. */
#include <stdlib.h>

#include "core/error.h"
#include "core/json.h"
#include "eval/auc.h"
#include "eval/recall.h"
#include "tests/test.h"

TEST(test_auc_matches_sklearn_with_ties) {
    char path[512];
    snprintf(path, sizeof path, "%s/auc_cases.json", test_fixture_dir());
    cJSON *root = json_read_file(path);
    ASSERT_MSG(root != NULL, "%s", error_message());
    int cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, root) {
        const cJSON *scores = cJSON_GetObjectItem(c, "scores"), *labels = cJSON_GetObjectItem(c, "labels");
        int n = cJSON_GetArraySize(scores);
        double *s = malloc((size_t)n * sizeof *s);
        int *l = malloc((size_t)n * sizeof *l);
        for (int k = 0; k < n; k++) {
            s[k] = cJSON_GetArrayItem(scores, k)->valuedouble;
            l[k] = cJSON_GetArrayItem(labels, k)->valueint;
        }
        double got = auc_mann_whitney(s, l, n);
        double want = cJSON_GetObjectItem(c, "auc")->valuedouble;
        free(s);
        free(l);
        if (fabs(got - want) > 1e-12) {
            cJSON_Delete(root);
            ASSERT_MSG(0, "case %d: %.15g vs sklearn %.15g", cases, got, want);
        }
        cases++;
    }
    cJSON_Delete(root);
    ASSERT_EQ_INT(cases, 5);
}

TEST(test_auc_extremes_and_single_class) {
    double s[4] = {0.1, 0.2, 0.3, 0.4};
    int up[4] = {0, 0, 1, 1}, down[4] = {1, 1, 0, 0}, one[4] = {1, 1, 1, 1};
    ASSERT_NEAR(auc_mann_whitney(s, up, 4), 1.0, 0);
    ASSERT_NEAR(auc_mann_whitney(s, down, 4), 0.0, 0);
    ASSERT(isnan(auc_mann_whitney(s, one, 4)));
}

TEST(test_df_auc_averages_chunks) {
    /* Df scores above chunk 0 entirely, equal to chunk 1: AUC_code = (0 + 0.5) / 2. */
    double df[2] = {0.9, 0.8};
    double dr[4] = {0.1, 0.2, 0.5, 0.5};
    double df_mid[2] = {0.5, 0.5};
    ASSERT_NEAR(auc_df_against_chunks(df, 2, dr, 1), 0.0, 1e-12);
    ASSERT_NEAR(auc_df_against_chunks(df_mid, 2, dr + 2, 1), 0.5, 1e-12);
    ASSERT_NEAR(auc_df_against_chunks(df, 2, dr, 2), 0.0, 1e-12);
}

TEST(test_retrieval_recall_ranks) {
    /* 3 images, 6 texts (2 each). Image 0 finds its text first, image 1 at
     * position 2, image 2 at position 5. */
    int64_t text_image[6] = {0, 0, 1, 1, 2, 2};
    float i2t[18] = {
        9, 1, 0, 0, 0, 0,     /* image 0: text 0 best -> rank 0 */
        5, 4, 3, 0, 0, 0,     /* image 1: texts 2,3 at 2 and >=3 -> rank 2 */
        6, 5, 4, 3, 2, 1,     /* image 2: texts 4,5 at 4, 5 -> rank 4 */
    };
    float t2i[18] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 2, 1, 0};
    /* t2i ranks: t0 0, t1 0 (tie with lower index wins), t2 0, t3 1, t4 0, t5 2. */
    RetrievalRecall r = retrieval_recall(i2t, t2i, text_image, 3, 6);
    ASSERT_NEAR(r.tr1, 100.0 / 3, 1e-9);
    ASSERT_NEAR(r.tr5, 100.0, 1e-9);
    ASSERT_NEAR(r.ir1, 100.0 * 4 / 6, 1e-9);
    ASSERT_NEAR(r.ir5, 100.0, 1e-9);
    ASSERT_NEAR(r.r_mean, 0.5 * ((100.0 / 3 + 200) / 3 + (400.0 / 6 + 200) / 3), 1e-9);
}
