/* L-codec and UL (unlearn/lcodec.h, unlearn/ul.h) on a tiny SNLI-VE world,
 * through the task interface (models/task_cls.h): L-codec moves only the
 * parameter slices it selects (whole Linear units) and, under -F, nothing
 * outside the fusion layers and cls_head; UL raises the Df hypotheses'
 * masked-token NLL while the image side and the MLM head stay bit-identical,
 * and UL-F moves only the fusion set. NLVR2 runs L-codec and UL once too (its
 * two images per item perturbed and fused as one item). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/synth_image_text.h"
#include "models/task_cls.h"
#include "tests/test.h"
#include "unlearn/lcodec.h"
#include "unlearn/ul.h"

typedef struct {
    Tokenizer *tok;
    ClsSet train;
    ModelConfig cfg;
    Task task;
    TaskModel m;
    int64_t df[8], dr[32];
    int n_df, n_dr;
} World;

static int world_open(World *w, AlbefClsTask which) {
    memset(w, 0, sizeof *w);
    static char dir[512];
    if (!dir[0]) {
        SynthImageTextOptions o = synth_image_text_defaults();
        o.train_images = 12;
        o.val_images = 2;
        o.test_images = 2;
        o.image_size = 32;
        o.vocab_size = 300;
        test_tmp_path(dir, sizeof dir, "cls_baselines_world");
        if (synth_image_text_write(&o, dir) < 0) return -1;
    }
    char path[1024], root[1024], cfg[1024];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (!(w->tok = tokenizer_load(path))) return -1;
    snprintf(cfg, sizeof cfg, "%s/../../models/configs/%s", test_fixture_dir(),
             which == ALBEF_TASK_NLVR2 ? "albef-tiny-nlvr.json" : "albef-tiny-ve.json");
    if (model_config_load(&w->cfg, cfg) || model_config_use_vocab_file(&w->cfg, path)) return -1;
    w->cfg.image_size = 32;
    snprintf(root, sizeof root, "%s/images", dir);
    snprintf(path, sizeof path, "%s/%s", dir, which == ALBEF_TASK_NLVR2 ? "nlvr_train.json" : "ve_train.json");
    if (cls_set_load(&w->train, which == ALBEF_TASK_NLVR2 ? CLS_SET_NLVR2 : CLS_SET_SNLI_VE, path, root, w->tok, 24,
                     32, 1 << 24))
        return -1;
    task_cls_init(&w->task, which, &w->cfg, w->tok, &w->train, &w->train, NULL, 0);
    if (w->task.model_init(&w->task, &w->m, 11) < 0) return -1;
    /* Df: the items of the first two deletion units; Dr: items of the others. */
    for (int64_t i = 0; i < w->train.n; i++) {
        int64_t g = w->task.item_group(&w->task, i);
        if (g < 2 && w->n_df < 8) w->df[w->n_df++] = i;
        else if (g >= 2 && w->n_dr < 32) w->dr[w->n_dr++] = i;
    }
    return w->n_df >= 2 && w->n_dr >= 8 ? 0 : error_set("tiny world: %d Df, %d Dr items", w->n_df, w->n_dr);
}

static void world_close(World *w) {
    w->task.model_free(&w->task, &w->m);
    w->task.free(&w->task);
    cls_set_free(&w->train);
    tokenizer_free(w->tok);
}

static float *values_copy(const ParamSet *ps) {
    float *v = malloc((size_t)ps->total * sizeof *v);
    memcpy(v, ps->values, (size_t)ps->total * sizeof *v);
    return v;
}

static int is_fusion_or_head(const World *w, const char *name) {
    char prefix[64];
    for (int l = w->cfg.fusion_layer; l < w->cfg.text_layers; l++) {
        snprintf(prefix, sizeof prefix, "text_encoder.encoder.layer.%d.", l);
        if (strncmp(name, prefix, strlen(prefix)) == 0) return 1;
    }
    return strncmp(name, "cls_head.", 9) == 0;
}

static LcodecOptions tiny_lcodec(const World *w) {
    return (LcodecOptions){
        .perturbations = 6, .batch = w->n_df, .image_noise = 0.1f, .token_lo = 5, .token_hi = 250,
        .foci = LCODEC_FOCI_FULL, .max_units = 3, .hessian = LCODEC_HESSIAN_MEAN, .hessian_batches = 2,
        .newton = LCODEC_NEWTON_SEKHARI, .l2_reg = 0.01, .epsilon = 0.1, .delta = 0.01, .n_train = w->train.n,
        .noise = 0, .guard_gap = 0.5, .guard_pairs = 8, .seed = 3,
    };
}

/* L-codec on the task: every changed value lies in a selected slice, the slices
 * are what the stats say; with fusion_only, only fusion/head tensors move. */
static void check_lcodec(AlbefClsTask which, int fusion_only) {
    World w;
    ASSERT_MSG(world_open(&w, which) == 0, "%s", error_message());
    ParamSet *ps = w.m.params;
    if (fusion_only) ASSERT(w.task.model_set_fusion_only(&w.task, &w.m) > 0);
    float *before = values_copy(ps);
    unsigned char *touched = calloc((size_t)ps->total, 1);
    LcodecOptions o = tiny_lcodec(&w);
    LcodecStats st;
    ASSERT_MSG(lcodec_unlearn(&w.task, &w.m, w.df, w.n_df, w.dr, w.n_dr, &o, touched, &st) == 0, "%s",
               error_message());
    ASSERT_EQ_INT(st.batches, 1);
    ASSERT(st.guard_first > 0.0 && st.guard_first <= 1.0);
    ASSERT_EQ_INT(st.applied, 1); /* a 0.5 drop of accuracy would be needed to revert it */
    int64_t n_touched = 0, changed = 0, stray = 0;
    for (int64_t k = 0; k < ps->total; k++) {
        n_touched += touched[k];
        if (memcmp(&before[k], &ps->values[k], sizeof(float)) != 0) *(touched[k] ? &changed : &stray) += 1;
    }
    ASSERT_EQ_INT(stray, 0);
    if (st.applied) {
        ASSERT(st.units_selected >= 1 && st.units_selected <= 3);
        ASSERT_EQ_INT(n_touched, st.values_changed);
        ASSERT_MSG(changed > n_touched / 2, "only %lld of %lld selected values changed", (long long)changed,
                   (long long)n_touched);
    }
    for (int p = 0; p < ps->count; p++) {
        const Tensor *t = ps->items[p];
        int64_t off = params_offset(ps, t);
        int same = memcmp(before + off, ps->values + off, (size_t)tensor_numel(t) * sizeof(float)) == 0;
        if (fusion_only && !same) ASSERT_MSG(is_fusion_or_head(&w, t->name), "L-codec-F changed %s", t->name);
    }
    free(before), free(touched);
    world_close(&w);
}

TEST(test_lcodec_on_snli_ve_changes_only_selected_slices) { check_lcodec(ALBEF_TASK_SNLI_VE, 0); }
TEST(test_lcodec_f_on_snli_ve_changes_only_fusion_and_head) { check_lcodec(ALBEF_TASK_SNLI_VE, 1); }
TEST(test_lcodec_on_nlvr2_changes_only_selected_slices) { check_lcodec(ALBEF_TASK_NLVR2, 0); }

/* UL on the task: the head trained on D with the model frozen, then the
 * ascent; Df NLL rises, the image side (and under -F everything outside the
 * fusion set) and the head stay bit-identical. */
static void check_ul(AlbefClsTask which, int fusion_only) {
    World w;
    ASSERT_MSG(world_open(&w, which) == 0, "%s", error_message());
    TokenizerSpecial ts = tokenizer_special(w.tok);
    ASSERT(ts.mask >= 0);
    MlmSpecial sp = {.mask = ts.mask, .cls = ts.cls, .sep = ts.sep, .pad = ts.pad};
    MlmHead head;
    mlm_head_init(&head, &w.cfg, 5);
    int64_t all[256];
    int n_all = (int)(w.train.n < 256 ? w.train.n : 256);
    for (int i = 0; i < n_all; i++) all[i] = i;
    double first, last;
    ASSERT_MSG(ul_train_mlm_head(&w.task, &w.m, &head, all, n_all, 3, 1e-2, 8, 0.3f, sp, 7, &first, &last) == 0, "%s",
               error_message());
    ASSERT_MSG(last < first, "MLM head loss %.4f -> %.4f", first, last);
    ParamSet *ps = w.m.params;
    float *before = values_copy(ps), *head_before = values_copy(&head.params);
    ASSERT(ul_set_trainable(&w.task, &w.m, fusion_only) > 0);
    UlRun run = {.lr = 3e-3, .max_epochs = 3, .batch_size = 4, .mask_prob = 0.3f, .stop_accuracy = -1,
                 .special = sp, .seed = 7};
    UlStats st;
    ASSERT_MSG(ul_unlearn(&w.task, &w.m, &head, w.df, w.n_df, &run, &st) == 0, "%s", error_message());
    ASSERT_EQ_INT(st.epochs, 3);
    ASSERT_MSG(st.last_nll > st.first_nll, "Df NLL %.4f -> %.4f", st.first_nll, st.last_nll);
    double ma, nll;
    ASSERT(ul_mlm_score(&w.task, &w.m, &head, TASK_SPLIT_TRAIN, w.df, w.n_df, 4, 0.3f, sp, 7, &ma, &nll) == 0);
    ASSERT_NEAR(nll, st.last_nll, 1e-6);
    ASSERT(memcmp(head_before, head.params.values, (size_t)head.params.total * sizeof(float)) == 0);
    int changed = 0;
    for (int p = 0; p < ps->count; p++) {
        const Tensor *t = ps->items[p];
        int64_t off = params_offset(ps, t);
        int same = memcmp(before + off, ps->values + off, (size_t)tensor_numel(t) * sizeof(float)) == 0;
        changed += !same;
        int allowed = fusion_only ? is_fusion_or_head(&w, t->name) : strncmp(t->name, "text_encoder.", 13) == 0;
        ASSERT_MSG(same || allowed, "UL%s changed %s", fusion_only ? "-F" : "", t->name);
    }
    ASSERT(changed > 0);
    free(before), free(head_before);
    mlm_head_free(&head);
    world_close(&w);
}

TEST(test_ul_on_snli_ve_raises_df_nll_on_the_text_side_only) { check_ul(ALBEF_TASK_SNLI_VE, 0); }
TEST(test_ul_f_on_snli_ve_changes_only_the_fusion_set) { check_ul(ALBEF_TASK_SNLI_VE, 1); }
TEST(test_ul_on_nlvr2_raises_df_nll_on_the_text_side_only) { check_ul(ALBEF_TASK_NLVR2, 0); }
