/* Membership inference in the shared evaluation (spec/unlearning_methods.md
 * §6.3 port specification): eval/pair_outputs gives the ITM softmax of each
 * (image, own caption) pair exactly as a direct model call does, and
 * programs/run_eval trains the attacker once on the original model and reports
 * P_before / P_after per model, on the tiny world (12 train images, 2 val). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "data/deletion.h"
#include "models/pair_outputs.h"
#include "models/retrieval_batch.h"
#include "models/task_retrieval.h"
#include "programs/run_eval.h"
#include "tests/eval_world.h"
#include "tests/test.h"

typedef struct {
    Tokenizer *tok;
    Albef m;
    TaskModel tm; /* over m */
    RunContext ctx;
    const char **keys;
} MiFixture;

/* A RunContext as run_setup would leave it, on the tiny world: Df = the 10
 * pairs of images 0 and 3, Dr = the other 50 (2 Dr evaluation subsets of 10),
 * the 10 validation pairs as the attacker's non-members. */
static int mi_fixture_open(MiFixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    f->tok = eval_world_tokenizer();
    if (!f->tok || eval_world_model(&f->m, f->tok, 21) < 0) return -1;
    RunContext *c = &f->ctx;
    c->cfg = f->m.cfg;
    c->flags.seed = 5;
    c->recipe.batch_eval = 4; /* several batches per split */
    c->recipe.k_test = 4;
    test_tmp_path(c->run_dir, sizeof c->run_dir, name);
    if (eval_world_set(&c->train, "train", f->tok, &f->m.cfg) < 0 ||
        eval_world_set(&c->test, "test", f->tok, &f->m.cfg) < 0 ||
        eval_world_set(&c->val, "val", f->tok, &f->m.cfg) < 0)
        return -1;
    char list[4400];
    snprintf(list, sizeof list, "%s_df.txt", c->run_dir);
    FILE *fp = fopen(list, "w");
    if (!fp) return error_set("%s: cannot write", list);
    fprintf(fp, "%s\n%s\n", c->train.split.image_keys[0], c->train.split.image_keys[3]);
    fclose(fp);
    const int64_t n = c->train.split.n_texts;
    f->keys = malloc((size_t)n * sizeof *f->keys);
    for (int64_t t = 0; t < n; t++) f->keys[t] = retrieval_set_pair_key(&c->train, t);
    if (deletion_list_read(list, 2, &c->list) < 0 || deletion_split(&c->list, f->keys, n, 0, &c->split) < 0)
        return -1;
    task_retrieval_init(&c->task, &c->cfg, &c->train, &c->test, &c->val);
    f->tm = task_retrieval_wrap(&f->m);
    return deletion_eval_sets(&c->split, 2, 3, &c->eval_sets);
}

static void mi_fixture_close(MiFixture *f) {
    RunContext *c = &f->ctx;
    deletion_eval_sets_free(&c->eval_sets);
    deletion_split_free(&c->split);
    deletion_list_free(&c->list);
    retrieval_set_free(&c->train);
    retrieval_set_free(&c->test);
    retrieval_set_free(&c->val);
    free(f->keys);
    albef_free(&f->m);
    if (f->tok) tokenizer_free(f->tok);
}

/* softmax(albef_itm_logits) of one pair, batch of one, straight from the model. */
static void direct_itm_probs(Albef *m, const RetrievalSet *s, int64_t pair, double out[2]) {
    int prev = autograd_set_enabled(0);
    albef_set_mode(m, 0, 0);
    int64_t image_id;
    AlbefBatch b;
    CHECK(retrieval_batch_make(s, &pair, 1, IMAGE_AUG_NONE, 0, 0, &image_id, &b) == 0, "%s", error_message());
    AlbefImageEmbed img = albef_embed_image(m, b.images);
    AlbefTextEmbed txt = albef_embed_text(m, b.text_ids, b.text_mask);
    Tensor *z = albef_itm_logits(m, albef_fused_cls(m, &txt, img.tokens));
    double z0 = tensor_f32(z)[0], z1 = tensor_f32(z)[1];
    out[0] = 1.0 / (1.0 + exp(z1 - z0));
    out[1] = 1.0 / (1.0 + exp(z0 - z1));
    autograd_step_end();
    autograd_set_enabled(prev);
}

TEST(test_pair_itm_probs_equal_a_direct_itm_softmax) {
    MiFixture f;
    ASSERT_MSG(mi_fixture_open(&f, "mi_pairs") == 0, "%s", error_message());
    RetrievalSet *train = &f.ctx.train;
    const int64_t pairs[5] = {0, 7, 23, 41, 59}; /* batch 2: three batches, the last one short */
    float probs[10], again[10];
    albef_set_mode(&f.m, 1, 99); /* train mode: must be set aside and come back */
    ASSERT_MSG(pair_itm_probs(&f.m, train, pairs, 5, 2, probs) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.m.dropout.training, 1);
    ASSERT_EQ_INT(f.m.dropout.seed, 99);
    int spread = 0;
    for (int k = 0; k < 5; k++) {
        double d[2];
        direct_itm_probs(&f.m, train, pairs[k], d);
        ASSERT_NEAR(probs[2 * k], d[0], 2e-6);
        ASSERT_NEAR(probs[2 * k + 1], d[1], 2e-6);
        ASSERT_NEAR((double)probs[2 * k] + probs[2 * k + 1], 1.0, 1e-6);
        if (fabs(probs[2 * k + 1] - probs[1]) > 1e-3) spread = 1;
    }
    ASSERT_MSG(spread, "every pair has the same ITM output: the check would not see a wrong pairing");
    /* one pair out of a larger batch gives the same numbers, and a rerun is bitwise equal */
    ASSERT(pair_itm_probs(&f.m, train, pairs, 5, 5, again) == 0);
    ASSERT_CLOSE_ARRAY(again, probs, 10, 2e-6, 0);
    ASSERT(pair_itm_probs(&f.m, train, pairs, 5, 2, again) == 0);
    ASSERT(memcmp(again, probs, sizeof probs) == 0);
    /* the validation split (eval layout) works the same way */
    const int64_t vp[2] = {0, f.ctx.val.split.n_texts - 1};
    ASSERT(pair_itm_probs(&f.m, &f.ctx.val, vp, 2, 4, probs) == 0);
    double d[2];
    direct_itm_probs(&f.m, &f.ctx.val, vp[1], d);
    ASSERT_NEAR(probs[3], d[1], 2e-6);
    /* a pair out of range is an error naming it */
    const int64_t bad = train->split.n_texts;
    ASSERT(pair_itm_probs(&f.m, train, &bad, 1, 2, probs) < 0);
    ASSERT_STR_CONTAINS(error_message(), "out of range");
    mi_fixture_close(&f);
}

static double json_field(const cJSON *models, const char *model, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(models, model), name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

TEST(test_run_evaluation_mi_ratio_is_one_for_the_original_and_moves_with_the_itm_head) {
    MiFixture f;
    ASSERT_MSG(mi_fixture_open(&f, "mi_run") == 0, "%s", error_message());
    RunContext *c = &f.ctx;
    ASSERT_EQ_INT(c->val.split.n_texts, 10);
    ASSERT_EQ_INT(c->eval_sets.n_df, 10);

    /* A copy of the original whose ITM head leans towards "no match". */
    Albef shifted;
    albef_init(&shifted, &f.m.cfg, 21);
    params_copy_values(&shifted.params, &f.m.params);
    tensor_f32(shifted.itm_head.bias)[0] += 1.5f;

    RunEvaluation ev;
    run_evaluation_init(&ev, c, "mi-test");
    ASSERT_EQ_INT(ev.mi_feature, MI_FEATURE_ENTROPY);
    ASSERT_MSG(run_evaluation_set_original(&ev, c, &f.tm) == 0, "%s", error_message());
    ASSERT(ev.mi_attacker != NULL);
    ASSERT_EQ_INT(ev.mi_n_val, 10);
    ASSERT_EQ_INT(ev.mi_n_members, 10); /* balanced: as many Dr members as validation pairs */
    ASSERT_EQ_INT(ev.mi_n_df, 10);
    ASSERT_EQ_INT(ev.mi_n_ctrl, 10);
    for (int64_t k = 0; k < ev.mi_n_ctrl; k++) ASSERT_EQ_INT(ev.mi_ctrl_pairs[k], c->eval_sets.dr_subsets[k]);
    /* P_before's features are the entropies of the original's ITM softmax
     * (a batch of one here against batches of 4 there: float rounding only) */
    float p[2];
    ASSERT(pair_itm_probs(&f.m, &c->train, &c->eval_sets.df[4], 1, 1, p) == 0);
    ASSERT_NEAR(ev.mi_df_before[4], mi_entropy(p, 2), 1e-6);

    ASSERT_MSG(run_evaluation_add(&ev, c, &f.tm, "original", -1.0) == 0, "%s", error_message());
    TaskModel t_shifted = task_retrieval_wrap(&shifted);
    ASSERT_MSG(run_evaluation_add(&ev, c, &t_shifted, "shifted", 1.0) == 0, "%s", error_message());
    const ModelResult *o = &ev.report.models[0], *s = &ev.report.models[1];
    /* the original against itself: 1 exactly, on Df and on the Dr control */
    ASSERT(o->has_mi);
    ASSERT(o->mi_ratio == 1.0);
    ASSERT(o->mi_per_sample_ratio == 1.0);
    ASSERT(o->mi_control_ratio == 1.0);
    ASSERT(o->p_before == o->p_after);
    ASSERT(o->mi_hard_before == o->mi_hard_after);
    ASSERT(o->p_before > 0.0 && o->p_before < 1.0);
    ASSERT_NEAR(o->p_before, mi_existence_probability(ev.mi_attacker, ev.mi_df_before, 10), 1e-12);
    /* the changed head: the same P_before, another P_after, ratio = their quotient */
    ASSERT(s->has_mi);
    ASSERT(s->p_before == o->p_before);
    ASSERT_MSG(fabs(s->p_after - s->p_before) > 1e-4, "P_after %.6f == P_before %.6f", s->p_after, s->p_before);
    ASSERT_NEAR(s->mi_ratio, s->p_before / s->p_after, 1e-12);
    ASSERT(isfinite(s->mi_control_ratio) && s->mi_control_ratio != 1.0);

    ASSERT_MSG(run_evaluation_finish(&ev, c) == 0, "%s", error_message());
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.json", c->run_dir);
    cJSON *root = json_read_file(path);
    ASSERT_MSG(root, "%s", error_message());
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    double orig_ratio = json_field(models, "original", "mi_ratio");
    double shifted_after = json_field(models, "shifted", "mi_p_after");
    cJSON_Delete(root);
    ASSERT(orig_ratio == 1.0);
    ASSERT_NEAR(shifted_after, s->p_after, 1e-12);
    run_evaluation_free(&ev);
    albef_free(&shifted);
    mi_fixture_close(&f);
}

TEST(test_run_evaluation_without_an_original_or_a_val_split_has_no_mi) {
    MiFixture f;
    ASSERT_MSG(mi_fixture_open(&f, "mi_none") == 0, "%s", error_message());
    RunContext *c = &f.ctx;
    /* set_original never called (a program not updated yet): rows without MI */
    RunEvaluation ev;
    run_evaluation_init(&ev, c, "no-mi");
    ASSERT_MSG(run_evaluation_add(&ev, c, &f.tm, "original", -1.0) == 0, "%s", error_message());
    ASSERT(!ev.report.models[0].has_mi && isnan(ev.report.models[0].mi_ratio));
    ASSERT(ev.report.models[0].has_dt && ev.report.models[0].has_forget);
    run_evaluation_free(&ev);
    /* no validation pairs (a dataset without flickr30k_val.json): skipped, not an error */
    retrieval_set_free(&c->val);
    run_evaluation_init(&ev, c, "no-val");
    ASSERT_MSG(run_evaluation_set_original(&ev, c, &f.tm) == 0, "%s", error_message());
    ASSERT(ev.mi_attacker == NULL);
    ASSERT_MSG(run_evaluation_add(&ev, c, &f.tm, "original", -1.0) == 0, "%s", error_message());
    ASSERT(!ev.report.models[0].has_mi);
    ASSERT_MSG(run_evaluation_finish(&ev, c) == 0, "%s", error_message());
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.json", c->run_dir);
    cJSON *root = json_read_file(path);
    ASSERT_MSG(root, "%s", error_message());
    const cJSON *orig = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "models"), "original");
    int null_ratio = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(orig, "mi_ratio"));
    cJSON_Delete(root);
    ASSERT(null_ratio);
    run_evaluation_free(&ev);
    mi_fixture_close(&f);
}
