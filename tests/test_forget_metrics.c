/* Df metrics (eval/forget_metrics.h): the AUC conventions on constructed
 * scores, the unseen sample, per-pair scores from each pair's own image and
 * caption, and the whole computation on the tiny world. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "data/deletion.h"
#include "eval/auc.h"
#include "eval/forget_metrics.h"
#include "tests/eval_world.h"
#include "tests/test.h"

TEST(test_forget_metrics_auc_conventions_on_constructed_scores) {
    const double df[3] = {0.1, 0.2, 0.3};
    const double dr[5 * 3] = {
        0.5,  0.6,  0.7,  /* every Dr pair above Df: AUC 1 */
        0.01, 0.02, 0.03, /* every Dr pair below: AUC 0 */
        0.1,  0.2,  0.3,  /* the same scores: 0.5 */
        0.15, 0.25, 0.35, /* Dr above Df in 6 of 9 comparisons */
        0.3,  0.3,  0.3,  /* 6 wins and 3 ties: 7.5 / 9 */
    };
    const double unseen_same[3] = {0.3, 0.2, 0.1}, unseen_low[2] = {0.0, 0.05};
    ForgetMetrics f;
    memset(&f, 0, sizeof f);
    forget_metrics_from_scores(df, 3, dr, 5, unseen_same, 3, &f);
    ASSERT_NEAR(f.auc_chunks[0], 1.0, 1e-12);
    ASSERT_NEAR(f.auc_chunks[1], 0.0, 1e-12);
    ASSERT_NEAR(f.auc_chunks[2], 0.5, 1e-12);
    ASSERT_NEAR(f.auc_chunks[3], 6.0 / 9.0, 1e-12);
    ASSERT_NEAR(f.auc_chunks[4], 7.5 / 9.0, 1e-12);
    ASSERT_NEAR(f.auc_code, 0.6, 1e-12);
    /* Df positive: 100·(1 − AUC_code); lower = forgotten (§6.2 step 4) */
    ASSERT_NEAR(f.df_reported, 40.0, 1e-9);
    ASSERT_NEAR(f.auc_unseen, 0.5, 1e-12);
    ASSERT_NEAR(f.df_vs_unseen, 50.0, 1e-9);

    /* Df scored above every unseen pair: a remembered association, 100 */
    forget_metrics_from_scores(df, 3, dr, 5, unseen_low, 2, &f);
    ASSERT_NEAR(f.df_vs_unseen, 100.0, 1e-9);
    /* Df scored below every Dr pair (fully forgotten): 0 */
    forget_metrics_from_scores(df, 3, dr, 1, NULL, 0, &f);
    ASSERT_NEAR(f.df_reported, 0.0, 1e-9);
    ASSERT(isnan(f.df_vs_unseen));
}

TEST(test_forget_sample_unseen_is_seeded_distinct_and_sorted) {
    int64_t a[10], b[10], c[10], all[40];
    ASSERT_EQ_INT(forget_sample_unseen(30, 10, 5, a), 10);
    ASSERT_EQ_INT(forget_sample_unseen(30, 10, 5, b), 10);
    ASSERT_EQ_INT(forget_sample_unseen(30, 10, 6, c), 10);
    ASSERT(memcmp(a, b, sizeof a) == 0);
    ASSERT(memcmp(a, c, sizeof a) != 0);
    for (int k = 0; k < 10; k++) {
        ASSERT(a[k] >= 0 && a[k] < 30);
        if (k) ASSERT(a[k] > a[k - 1]);
    }
    /* fewer test pairs than |Df|: all of them */
    ASSERT_EQ_INT(forget_sample_unseen(7, 40, 5, all), 7);
    for (int k = 0; k < 7; k++) ASSERT_EQ_INT(all[k], k);
}

/* sigmoid(<v, t>) from one image and one caption embedded alone. */
/* cos(image of pair `image_of`, caption of pair `caption_of`) through the model directly. */
static double direct_cosine(Albef *m, const RetrievalSet *s, int64_t image_of, int64_t caption_of) {
    const int64_t S = s->image_size, L = s->max_len, E = m->cfg.embed_dim;
    const int64_t pair = caption_of;
    float *px = malloc((size_t)(3 * S * S) * sizeof *px);
    CHECK(retrieval_set_pixels(s, s->split.txt2img[image_of], IMAGE_AUG_NONE, 0, 0, px) == 0, "%s", error_message());
    int prev = autograd_set_enabled(0);
    albef_set_mode(m, 0, 0);
    AlbefImageEmbed im = albef_embed_image(m, tensor_from_f32(SHAPE(1, 3, S, S), px));
    Tensor *ids = tensor_new(DTYPE_I32, SHAPE(1, L)), *mask = tensor_new(DTYPE_I32, SHAPE(1, L));
    memcpy(ids->data, s->ids + pair * L, (size_t)L * sizeof(int32_t));
    memcpy(mask->data, s->mask + pair * L, (size_t)L * sizeof(int32_t));
    AlbefTextEmbed te = albef_embed_text(m, ids, mask);
    double dot = 0.0;
    for (int64_t k = 0; k < E; k++) dot += (double)tensor_f32(im.feat)[k] * tensor_f32(te.feat)[k];
    autograd_step_end();
    autograd_set_enabled(prev);
    free(px);
    return dot;
}

static double direct_score(Albef *m, const RetrievalSet *s, int64_t pair) {
    return 1.0 / (1.0 + exp(-direct_cosine(m, s, pair, pair)));
}

typedef struct {
    Tokenizer *tok;
    Albef m;
    RetrievalSet train, test;
} Fixture;

static int fixture_open(Fixture *f) {
    memset(f, 0, sizeof *f);
    f->tok = eval_world_tokenizer();
    if (!f->tok || eval_world_model(&f->m, f->tok, 11) < 0) return -1;
    if (eval_world_set(&f->train, "train", f->tok, &f->m.cfg) < 0) return -1;
    return eval_world_set(&f->test, "test", f->tok, &f->m.cfg);
}

static void fixture_close(Fixture *f) {
    retrieval_set_free(&f->train);
    retrieval_set_free(&f->test);
    albef_free(&f->m);
    tokenizer_free(f->tok);
}

TEST(test_forget_pair_scores_use_each_pairs_own_image_and_caption) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.train.split.n_texts, EVAL_WORLD_TRAIN_IMAGES * EVAL_WORLD_CAPTIONS);
    /* Pair 7 is caption 2 of image 1: the released code's diagonal (defect ii)
     * would pair it with image 7 instead. Repeated images are embedded once. */
    const int64_t pairs[6] = {7, 0, 13, 59, 5, 8};
    double got[6];
    ASSERT_MSG(forget_pair_scores(&f.m, &f.train, pairs, 6, 4, 0, got) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.train.split.txt2img[7], 1);
    for (int p = 0; p < 6; p++) {
        double want = direct_score(&f.m, &f.train, pairs[p]);
        ASSERT_NEAR(got[p], want, 1e-6);
        ASSERT(got[p] > 0.0 && got[p] < 1.0);
    }
    /* the images differ, so the score depends on the pairing */
    ASSERT(fabs(got[0] - got[4]) > 1e-6);
    /* the similarity summary L_MD's trace logs: own pairs and the off-diagonal of three pairs */
    const int64_t three[3] = {7, 13, 59};
    double own, off, want_own = 0.0, want_off = 0.0;
    ASSERT_MSG(forget_pair_similarity(&f.m, &f.train, three, 3, 2, &own, &off) == 0, "%s", error_message());
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double c = direct_cosine(&f.m, &f.train, three[i], three[j]);
            if (i == j) want_own += c / 3.0;
            else want_off += c / 6.0;
        }
    ASSERT_NEAR(own, want_own, 1e-5);
    ASSERT_NEAR(off, want_off, 1e-5);
    ASSERT(fabs(own - off) > 1e-4);
    int64_t bad = 60;
    ASSERT(forget_pair_scores(&f.m, &f.train, &bad, 1, 4, 0, got) == -1);
    ASSERT_STR_CONTAINS(error_message(), "pair 60 out of range");
    fixture_close(&f);
}

TEST(test_forget_metrics_compute_on_a_deletion_of_two_images) {
    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    /* Delete images 0 and 3: Df = their 10 pairs, Dr = the other 50, which
     * deletion_eval_sets splits into 5 random subsets of 10. */
    char list[512];
    test_tmp_path(list, sizeof list, "forget_df.txt");
    FILE *fp = fopen(list, "w");
    ASSERT(fp);
    fprintf(fp, "%s\n%s\n", f.train.split.image_keys[0], f.train.split.image_keys[3]);
    fclose(fp);
    const int64_t n_pairs = f.train.split.n_texts;
    const char **keys = malloc((size_t)n_pairs * sizeof *keys);
    for (int64_t t = 0; t < n_pairs; t++) keys[t] = retrieval_set_pair_key(&f.train, t);
    DeletionList dl;
    DeletionSplit split;
    DeletionEvalSets sets;
    ASSERT_MSG(deletion_list_read(list, 2, &dl) == 0, "%s", error_message());
    ASSERT_MSG(deletion_split(&dl, keys, n_pairs, 0, &split) == 0, "%s", error_message());
    ASSERT_MSG(deletion_eval_sets(&split, DELETION_EVAL_SUBSETS, 3, &sets) == 0, "%s", error_message());
    ASSERT_EQ_INT(sets.n_df, 10);

    ForgetMetrics fm;
    ASSERT_MSG(forget_metrics_compute(&f.m, &f.train, &sets, &f.test, 9, 8, 0, &fm) == 0, "%s", error_message());
    ASSERT_EQ_INT(fm.n_df, 10);
    ASSERT_EQ_INT(fm.n_subsets, 5);
    ASSERT_EQ_INT(fm.n_unseen, 10);
    for (int64_t k = 0; k < fm.n_unseen; k++) ASSERT(fm.unseen_pairs[k] >= 0 && fm.unseen_pairs[k] < 30);
    /* the scores are the per-pair scores of forget_pair_scores ... */
    double s;
    ASSERT(forget_pair_scores(&f.m, &f.train, &fm.df_pairs[3], 1, 1, 0, &s) == 0);
    ASSERT_NEAR(fm.df_scores[3], s, 1e-6);
    ASSERT(forget_pair_scores(&f.m, &f.train, &fm.dr_pairs[27], 1, 1, 0, &s) == 0);
    ASSERT_NEAR(fm.dr_scores[27], s, 1e-6);
    ASSERT(forget_pair_scores(&f.m, &f.test, &fm.unseen_pairs[4], 1, 1, 0, &s) == 0);
    ASSERT_NEAR(fm.unseen_scores[4], s, 1e-6);
    for (int64_t k = 0; k < fm.n_df; k++) {
        int64_t img = f.train.split.txt2img[fm.df_pairs[k]];
        ASSERT(img == 0 || img == 3);
    }
    /* ... and the AUCs follow from them */
    ForgetMetrics again;
    memset(&again, 0, sizeof again);
    forget_metrics_from_scores(fm.df_scores, 10, fm.dr_scores, 5, fm.unseen_scores, 10, &again);
    ASSERT_NEAR(fm.auc_code, again.auc_code, 1e-12);
    ASSERT_NEAR(fm.df_reported, 100.0 * (1.0 - fm.auc_code), 1e-9);
    ASSERT_NEAR(fm.df_vs_unseen, 100.0 * (1.0 - fm.auc_unseen), 1e-9);
    ASSERT(fm.auc_code >= 0.0 && fm.auc_code <= 1.0 && isfinite(fm.auc_unseen));
    forget_metrics_free(&fm);
    deletion_eval_sets_free(&sets);
    deletion_split_free(&split);
    deletion_list_free(&dl);
    free(keys);
    fixture_close(&f);
}

TEST(test_forget_metrics_refuse_nonfinite_scores) {
    /* a NaN score ranks anywhere: the AUC would come out as a plausible number */
    const double df[2] = {0.2, NAN}, dr[2] = {0.7, 0.8};
    const double both[4] = {0.2, NAN, 0.7, 0.8};
    const int labels[4] = {0, 0, 1, 1};
    ASSERT(isnan(auc_mann_whitney(both, labels, 4)));
    ASSERT(isnan(auc_df_against_chunks(df, 2, dr, 1)));

    Fixture f;
    ASSERT_MSG(fixture_open(&f) == 0, "%s", error_message());
    Tensor *w = params_find(&f.m.params, "vision_proj.weight");
    ASSERT(w != NULL);
    tensor_f32(w)[3] = NAN;
    DeletionSplit split = {0};
    int64_t df_pairs[2] = {0, 5}, dr_pairs[20];
    for (int k = 0; k < 20; k++) dr_pairs[k] = 10 + k;
    split.df = df_pairs;
    split.n_df = 2;
    split.dr = dr_pairs;
    split.n_dr = 20;
    DeletionEvalSets sets;
    ASSERT_MSG(deletion_eval_sets(&split, DELETION_EVAL_SUBSETS, 3, &sets) == 0, "%s", error_message());
    ForgetMetrics fm;
    int rc = forget_metrics_compute(&f.m, &f.train, &sets, NULL, 9, 8, 0, &fm);
    deletion_eval_sets_free(&sets);
    fixture_close(&f);
    ASSERT(rc == -1);
    ASSERT_STR_CONTAINS(error_message(), "Df metric: the score of training caption 0 (Df pair 0) is ");
    ASSERT_STR_CONTAINS(error_message(), "nan: the model's features are not finite");
}
