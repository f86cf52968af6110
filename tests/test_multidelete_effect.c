/* MultiDelete's effect end to end on a tiny world, through the code path of
 * bin/unlearn_multidelete: albef_train_retrieval trains an original model,
 * multidelete_unlearn forgets the pairs of 6 images, forget_metrics_compute and
 * retrieval_eval_run measure Df and Dt before and after.
 *
 * The world is small enough (60 training images, 30 epochs) for the model to
 * memorise its training pairs: the original scores Df pairs far above unseen
 * pairs. Only then is there pair-specific knowledge to remove; on the default
 * 1000-image world the tiny model generalises and Df pairs already score like
 * unseen ones.
 *
 * Measured (seed 42, 1-2 threads): original R mean 29.3, Df 46.9, Df-vs-unseen
 * 81.8; after 40 steps at lr 1e-4: R mean 30.3, Df 41.8, Df-vs-unseen 77.0.
 * The issue asked for a 10-point Df drop at most 3 points of Dt; with the
 * paper's loss (λ = 1) this tiny model does not get there: every setting
 * measured that lowers Df by 10 or more costs 5-25 points of Dt (lr 2e-4 x 40:
 * Df 40.4, R 25.6; lr 3e-4 x 20: Df 39.7, R 24.3), because L_MD's decoupling
 * acts on the projection heads and encoders shared by Df and Dr and nothing in
 * the loss holds Dr's ITC alignment. The assertions pin the effect that is
 * there, with margins for thread-count rounding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/json.h"
#include "data/deletion.h"
#include "data/retrieval_set.h"
#include "data/synth_image_text.h"
#include "data/tokenizer.h"
#include "eval/forget_metrics.h"
#include "eval/retrieval_eval.h"
#include "models/albef.h"
#include "models/task_retrieval.h"
#include "tests/test.h"
#include "unlearn/multidelete_loop.h"
#include "unlearn/recipe.h"
#include "unlearn/train_loop.h"

#define TRAIN_IMAGES 60
#define TEST_IMAGES 30
#define DF_IMAGES 6 /* 30 Df pairs; Dr (270) holds the 5 disjoint subsets of 30 */

/* 32-px images in 8-px patches, width 32: ~10 steps/s on one core. No dropout
 * and no momentum distillation, so that 270 steps memorise the 300 pairs. */
static const char *EFFECT_CONFIG =
    "{\"name\": \"effect-tiny\", \"image_size\": 32, \"patch_size\": 8, \"vision_width\": 32, \"vision_depth\": 1,"
    " \"vision_heads\": 2, \"vision_mlp_hidden\": 64, \"vision_ln_eps\": 1e-6, \"vocab_size\": 400,"
    " \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64, \"text_layers\": 4, \"fusion_layer\": 2,"
    " \"max_position_embeddings\": 32, \"max_text_len\": 30, \"max_text_len_eval\": 30, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.0, \"embed_dim\": 32, \"temp_init\": 0.07, \"temp_min\": 0.001, \"temp_max\": 0.5,"
    " \"momentum_distill\": false, \"momentum\": 0.995, \"alpha\": 0.4, \"alpha_ramp_epochs\": 2,"
    " \"queue_size\": 0}";

typedef struct {
    double r_mean, df, df_vs_unseen;
} EffectMetrics;

static int measure(Albef *m, const RetrievalSet *train, const RetrievalSet *test, const DeletionEvalSets *sets,
                   EffectMetrics *out) {
    RetrievalEvalOptions o;
    memset(&o, 0, sizeof o);
    o.k_test = 16;
    o.image_batch = o.text_batch = o.pair_batch = 64;
    RetrievalEvalResult r;
    if (retrieval_eval_run(m, test, &o, &r) < 0) return -1;
    out->r_mean = r.recall.r_mean;
    retrieval_eval_result_free(&r);
    ForgetMetrics f;
    if (forget_metrics_compute(m, train, sets, test, 42, 64, 0, &f) < 0) return -1;
    out->df = f.df_reported;
    out->df_vs_unseen = f.df_vs_unseen;
    forget_metrics_free(&f);
    autograd_step_end();
    return 0;
}

TEST(test_multidelete_effect_forgets_memorised_pairs_and_keeps_dt) {
    char dir[512], path[1024], root[1024];
    test_tmp_path(dir, sizeof dir, "multidelete_effect_world");
    SynthImageTextOptions w;
    ASSERT(synth_image_text_world("scenes", &w) == 0);
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
    cJSON *json = json_parse_text(EFFECT_CONFIG, "effect config");
    ASSERT(json != NULL);
    int rc = model_config_from_json(&c, json, "effect config");
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

    /* Df: every caption of the first DF_IMAGES images (the scenes are drawn
     * independently per index, so these are as random as any). */
    int64_t n = train.split.n_texts;
    DeletionSplit split;
    memset(&split, 0, sizeof split);
    split.df = malloc((size_t)n * sizeof *split.df);
    split.dr = malloc((size_t)n * sizeof *split.dr);
    int64_t *all = malloc((size_t)n * sizeof *all);
    ASSERT(split.df && split.dr && all);
    for (int64_t t = 0; t < n; t++) {
        all[t] = t;
        if (train.split.txt2img[t] < DF_IMAGES) split.df[split.n_df++] = t;
        else split.dr[split.n_dr++] = t;
    }
    split.n_units = DF_IMAGES;
    DeletionEvalSets sets;
    ASSERT_MSG(deletion_eval_sets(&split, 5, 42, &sets) == 0, "%s", error_message());

    /* The tiny recipe's lr and schedule, 30 epochs of 9 steps. */
    Recipe recipe = recipe_get("albef-tiny", "flickr30k");
    recipe.epochs = 30;
    recipe.warmup_steps = 20;
    Albef original, unlearned;
    albef_init(&original, &c, 42);
    Task task;
    task_retrieval_init(&task, &c, &train, NULL, NULL);
    TaskModel t_original = task_retrieval_wrap(&original), t_unlearned = task_retrieval_wrap(&unlearned);
    TrainStats ts;
    ASSERT_MSG(train_task_model(&task, &t_original, all, n, &recipe, 42, &ts) == 0, "%s", error_message());
    EffectMetrics before, after;
    ASSERT_MSG(measure(&original, &train, &test, &sets, &before) == 0, "%s", error_message());
    /* Memorised: Df pairs score well above unseen test pairs (measured 81.8). */
    ASSERT_MSG(before.df_vs_unseen >= 70.0, "original Df-vs-unseen %.1f", before.df_vs_unseen);

    albef_init(&unlearned, &c, 42);
    params_copy_values(&unlearned.params, &original.params);
    params_copy_values(&unlearned.momentum, &original.momentum);
    /* 30 Df pairs make 1 batch of 16 per epoch: 40 steps at lr 1e-4 (measured:
     * 10 steps move nothing, 2e-4 or 3e-4 cost 4-5 points of Dt). */
    MultiDeleteRun run = {.lr = 1e-4, .min_lr = recipe.min_lr, .epochs = 40, .batch_df = 16, .augment = 0,
                          .seed = 42, .loss = multidelete_default_options()};
    MultiDeleteStats st;
    ASSERT_MSG(multidelete_unlearn(&task, &t_unlearned, &t_original, split.df, split.n_df, split.dr, split.n_dr,
                                   &run, &st) == 0,
               "%s", error_message());
    ASSERT_MSG(measure(&unlearned, &train, &test, &sets, &after) == 0, "%s", error_message());
    printf("  original:  R mean %.2f  Df %.1f  Df-vs-unseen %.1f\n", before.r_mean, before.df, before.df_vs_unseen);
    printf("  unlearned: R mean %.2f  Df %.1f  Df-vs-unseen %.1f  (L_MD %.3f -> %.3f)\n", after.r_mean, after.df,
           after.df_vs_unseen, st.first_md, st.last_md);
    ASSERT_MSG(st.last_md < 0.6 * st.first_md, "L_MD %.4f -> %.4f", st.first_md, st.last_md);
    /* Df pairs now score below Dr pairs (measured 46.9 -> 41.8)... */
    ASSERT_MSG(after.df <= before.df - 3.0, "Df %.1f -> %.1f", before.df, after.df);
    /* ...and closer to unseen ones (81.8 -> 77.0)... */
    ASSERT_MSG(after.df_vs_unseen < before.df_vs_unseen, "Df-vs-unseen %.1f -> %.1f", before.df_vs_unseen,
               after.df_vs_unseen);
    /* ...while test retrieval stays (measured 29.3 -> 30.3). */
    ASSERT_MSG(after.r_mean >= before.r_mean - 3.0, "Dt R mean %.2f -> %.2f", before.r_mean, after.r_mean);

    albef_free(&unlearned);
    albef_free(&original);
    deletion_eval_sets_free(&sets);
    deletion_split_free(&split);
    free(all);
    retrieval_set_free(&train);
    retrieval_set_free(&test);
    tokenizer_free(tok);
}
