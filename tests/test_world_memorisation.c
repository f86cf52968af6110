/* The long-tail world (data/synth_image_text.h, "longtail") at a small scale,
 * through the training code of the default run: an original trained on all
 * of D memorises its pairs (the Df pairs' ITC scores lie above those of
 * unseen test pairs, spec/unlearning_methods.md §6.2 "Df vs unseen"), while
 * Retrain, the same recipe from the same initialisation on Dr only (§4.1),
 * scores the Df pairs like unseen ones. This is the regime the default run
 * needs: something to forget, and a gold standard that has forgotten it.
 *
 * Df is 40 of the 100 training images (200 pairs) against 200 unseen test
 * pairs, so that one AUC has a sampling spread of about 3 points. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/json.h"
#include "data/retrieval_set.h"
#include "data/synth_image_text.h"
#include "data/tokenizer.h"
#include "eval/forget_metrics.h"
#include "models/albef.h"
#include "models/task_retrieval.h"
#include "tests/test.h"
#include "unlearn/recipe.h"
#include "unlearn/train_loop.h"

#define TRAIN_IMAGES 100
#define TEST_IMAGES 40
#define DF_IMAGES 40

/* 32-px images in 8-px patches (the emblem fills one patch, as on the default
 * world's 64-px images in 16-px patches), width 32. */
static const char *MEMO_CONFIG =
    "{\"name\": \"memo-tiny\", \"image_size\": 32, \"patch_size\": 8, \"vision_width\": 32, \"vision_depth\": 1,"
    " \"vision_heads\": 2, \"vision_mlp_hidden\": 64, \"vision_ln_eps\": 1e-6, \"vocab_size\": 400,"
    " \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64, \"text_layers\": 4, \"fusion_layer\": 2,"
    " \"max_position_embeddings\": 32, \"max_text_len\": 30, \"max_text_len_eval\": 30, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.1, \"embed_dim\": 32, \"temp_init\": 0.07, \"temp_min\": 0.001, \"temp_max\": 0.5,"
    " \"momentum_distill\": false, \"momentum\": 0.995, \"alpha\": 0.4, \"alpha_ramp_epochs\": 2,"
    " \"queue_size\": 0}";

typedef struct {
    double df_vs_unseen, dr_vs_unseen;
} Memorisation;

static int measure(Albef *m, const RetrievalSet *train, const RetrievalSet *test, const int64_t *df, int64_t n_df,
                   const int64_t *dr, Memorisation *out) {
    int64_t n_unseen = test->split.n_texts;
    int64_t *unseen = malloc((size_t)n_unseen * sizeof *unseen);
    double *s_df = malloc((size_t)n_df * sizeof *s_df), *s_dr = malloc((size_t)n_df * sizeof *s_dr);
    double *s_un = malloc((size_t)n_unseen * sizeof *s_un);
    CHECK(unseen && s_df && s_dr && s_un, "out of memory");
    for (int64_t t = 0; t < n_unseen; t++) unseen[t] = t;
    int rc = forget_pair_scores(m, train, df, n_df, 64, 0, s_df);
    if (rc == 0) rc = forget_pair_scores(m, train, dr, n_df, 64, 0, s_dr);
    if (rc == 0) rc = forget_pair_scores(m, test, unseen, n_unseen, 64, 0, s_un);
    if (rc == 0) {
        ForgetMetrics f;
        memset(&f, 0, sizeof f);
        forget_metrics_from_scores(s_df, n_df, s_dr, 1, s_un, n_unseen, &f);
        out->df_vs_unseen = f.df_vs_unseen;
        out->dr_vs_unseen = f.dr_vs_unseen;
    }
    autograd_step_end();
    free(unseen), free(s_df), free(s_dr), free(s_un);
    return rc;
}

TEST(test_world_longtail_original_memorises_and_retrain_does_not) {
    char dir[512], path[1024], root[1024];
    test_tmp_path(dir, sizeof dir, "longtail_world");
    SynthImageTextOptions w;
    ASSERT(synth_image_text_world("longtail", &w) == 0);
    w.train_images = TRAIN_IMAGES;
    w.val_images = 2;
    w.test_images = TEST_IMAGES;
    w.image_size = 32;
    w.vocab_size = 400;
    w.ve_per_label = 0; /* retrieval only */
    w.nlvr_pairs_percent = 0;
    ASSERT_MSG(synth_image_text_write(&w, dir) == 0, "%s", error_message());
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Tokenizer *tok = tokenizer_load(path);
    ASSERT_MSG(tok != NULL, "%s", error_message());
    ModelConfig c;
    cJSON *json = json_parse_text(MEMO_CONFIG, "memorisation config");
    ASSERT(json != NULL);
    int rc = model_config_from_json(&c, json, "memorisation config");
    cJSON_Delete(json);
    ASSERT_MSG(rc == 0, "%s", error_message());
    c.vocab_size = tokenizer_vocab_size(tok);
    RetrievalSet train, test;
    snprintf(root, sizeof root, "%s/images", dir);
    snprintf(path, sizeof path, "%s/flickr30k_train.json", dir);
    ASSERT_MSG(retrieval_set_load(&train, path, FLICKR30K_TRAIN, root, tok, c.max_text_len, c.image_size, 64 << 20) == 0,
               "%s", error_message());
    snprintf(path, sizeof path, "%s/flickr30k_test.json", dir);
    ASSERT_MSG(retrieval_set_load(&test, path, FLICKR30K_EVAL, root, tok, c.max_text_len_eval, c.image_size, 64 << 20) ==
                   0,
               "%s", error_message());

    /* Df: every caption of the first DF_IMAGES images (scenes and emblems are
     * drawn independently per index, so these are as random as any). */
    int64_t n = train.split.n_texts, n_df = 0, n_dr = 0;
    int64_t *all = malloc((size_t)n * sizeof *all), *df = malloc((size_t)n * sizeof *df), *dr = malloc((size_t)n * sizeof *dr);
    ASSERT(all && df && dr);
    for (int64_t t = 0; t < n; t++) {
        all[t] = t;
        if (train.split.txt2img[t] < DF_IMAGES) df[n_df++] = t;
        else dr[n_dr++] = t;
    }
    ASSERT(n_dr >= n_df);

    Recipe recipe = recipe_get("albef-tiny", "flickr30k");
    recipe.epochs = 20;
    recipe.warmup_steps = 20;
    Albef original, retrained;
    TrainStats ts;
    Task task;
    task_retrieval_init(&task, &c, &train, NULL, NULL);
    albef_init(&original, &c, 42);
    albef_init(&retrained, &c, 42);
    TaskModel t_original = task_retrieval_wrap(&original), t_retrained = task_retrieval_wrap(&retrained);
    ASSERT_MSG(train_task_model(&task, &t_original, all, n, &recipe, 42, &ts) == 0, "%s", error_message());
    ASSERT_MSG(train_task_model(&task, &t_retrained, dr, n_dr, &recipe, 42, &ts) == 0, "%s", error_message());
    Memorisation o, r;
    ASSERT_MSG(measure(&original, &train, &test, df, n_df, dr, &o) == 0, "%s", error_message());
    ASSERT_MSG(measure(&retrained, &train, &test, df, n_df, dr, &r) == 0, "%s", error_message());
    printf("  original:  Df-vs-unseen %.1f  Dr-vs-unseen %.1f\n", o.df_vs_unseen, o.dr_vs_unseen);
    printf("  retrain:   Df-vs-unseen %.1f  Dr-vs-unseen %.1f\n", r.df_vs_unseen, r.dr_vs_unseen);
    ASSERT_MSG(o.df_vs_unseen > 55.0, "original Df-vs-unseen %.1f: no memorisation", o.df_vs_unseen);
    ASSERT_MSG(o.dr_vs_unseen > 55.0, "original Dr-vs-unseen %.1f: no memorisation", o.dr_vs_unseen);
    ASSERT_MSG(r.df_vs_unseen > 45.0 && r.df_vs_unseen < 55.0, "Retrain Df-vs-unseen %.1f, not within 5 of 50",
               r.df_vs_unseen);
    ASSERT_MSG(r.dr_vs_unseen > 55.0, "Retrain Dr-vs-unseen %.1f: it memorises what it trained on", r.dr_vs_unseen);

    albef_free(&original);
    albef_free(&retrained);
    free(all), free(df), free(dr);
    retrieval_set_free(&train);
    retrieval_set_free(&test);
    tokenizer_free(tok);
}
