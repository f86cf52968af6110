/* What MultiDelete does to SNLI-VE / NLVR2 predictions (spec/unlearning_methods.md
 * §5.1-5.2), on a small synthetic world: after a few steps, θ's class
 * probabilities on the Df items move toward θ0's probabilities on the same
 * items re-paired with another Df item's sentence (L_MD), while the test
 * items' predictions stay where θ0 put them (L_MKR, L_UKR). θ0 is a small
 * model trained briefly with the task loss, so its predictions depend on the
 * pair. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "data/synth_image_text.h"
#include "models/cls_batch.h"
#include "models/task_cls.h"
#include "nn/optim.h"
#include "tests/test.h"
#include "unlearn/multidelete_loss.h"

static const char *CONFIG =
    "{\"name\": \"effect-cls\", \"image_size\": 32, \"patch_size\": 16, \"vision_width\": 32, \"vision_depth\": 1,"
    " \"vision_heads\": 2, \"vision_mlp_hidden\": 64, \"vision_ln_eps\": 1e-6, \"vocab_size\": 300,"
    " \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64, \"text_layers\": 6, \"fusion_layer\": 2,"
    " \"max_position_embeddings\": 32, \"max_text_len\": 24, \"max_text_len_eval\": 24, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.0, \"embed_dim\": 16, \"temp_init\": 0.07, \"temp_min\": 0.001, \"temp_max\": 0.5,"
    " \"momentum_distill\": false, \"momentum\": 0.995, \"alpha\": 0.4, \"alpha_ramp_epochs\": 0, \"queue_size\": 0}";

typedef struct {
    char dir[512];
    Tokenizer *tok;
    ClsSet train, test;
    ModelConfig cfg;
    Task task;
} World;

static int world_open(World *w, AlbefClsTask which) {
    memset(w, 0, sizeof *w);
    SynthImageTextOptions o;
    if (synth_image_text_world("scenes", &o) < 0) return -1; /* plain scenes: no memorised emblems */
    o.train_images = 24;
    o.val_images = 2;
    o.test_images = 16;
    o.image_size = 32;
    o.vocab_size = 300;
    o.nlvr_pairs_percent = 400;
    test_tmp_path(w->dir, sizeof w->dir, "cls_effect_world");
    char path[1024], root[1024];
    snprintf(path, sizeof path, "%s/vocab.txt", w->dir);
    if (!file_exists(path) && synth_image_text_write(&o, w->dir) < 0) return -1;
    if (!(w->tok = tokenizer_load(path))) return -1;
    cJSON *root_json = json_parse_text(CONFIG, "effect config");
    int rc = root_json ? model_config_from_json(&w->cfg, root_json, "effect config") : -1;
    cJSON_Delete(root_json);
    if (rc || model_config_use_vocab_file(&w->cfg, path)) return -1;
    snprintf(root, sizeof root, "%s/images", w->dir);
    int nlvr = which == ALBEF_TASK_NLVR2;
    ClsSetKind kind = nlvr ? CLS_SET_NLVR2 : CLS_SET_SNLI_VE;
    snprintf(path, sizeof path, "%s/%s", w->dir, nlvr ? "nlvr_train.json" : "ve_train.json");
    if (cls_set_load(&w->train, kind, path, root, w->tok, 24, 32, 1 << 24)) return -1;
    snprintf(path, sizeof path, "%s/%s", w->dir, nlvr ? "nlvr_test.json" : "ve_test.json");
    if (cls_set_load(&w->test, kind, path, root, w->tok, 24, 32, 1 << 24)) return -1;
    task_cls_init(&w->task, which, &w->cfg, w->tok, &w->train, &w->test, NULL, 0);
    return 0;
}

static void world_close(World *w) {
    w->task.free(&w->task);
    cls_set_free(&w->train);
    cls_set_free(&w->test);
    tokenizer_free(w->tok);
}

/* Class probabilities of items whose sentence is taken from text_items[i]
 * (text_items NULL: their own), eval mode, no tape. */
static void probs_of(World *w, AlbefCls *m, const ClsSet *s, const int64_t *items, const int64_t *text_items, int n,
                     float *out) {
    int prev = autograd_set_enabled(0);
    AlbefClsBatch b, t;
    CHECK(cls_batch_make(s, w->tok, items, n, IMAGE_AUG_NONE, 0, 0, 0, &b, NULL) == 0, "%s", error_message());
    if (text_items) {
        CHECK(cls_batch_make(s, w->tok, text_items, n, IMAGE_AUG_NONE, 0, 0, 0, &t, NULL) == 0, "%s", error_message());
        b.text_ids = t.text_ids;
        b.text_mask = t.text_mask;
    }
    albef_cls_set_mode(m, 0, 0);
    const float *l = tensor_f32(albef_cls_forward(m, &b).logits);
    const int C = m->n_classes;
    for (int i = 0; i < n; i++) {
        double mx = l[i * C], sum = 0.0;
        for (int c = 1; c < C; c++) mx = fmax(mx, l[i * C + c]);
        for (int c = 0; c < C; c++) sum += exp(l[i * C + c] - mx);
        for (int c = 0; c < C; c++) out[i * C + c] = (float)(exp(l[i * C + c] - mx) / sum);
    }
    autograd_step_end();
    autograd_set_enabled(prev);
}

/* Mean L1 distance between rows of two [n, C] probability tables. */
static double mean_l1(const float *a, const float *b, int n, int C) {
    double d = 0.0;
    for (int k = 0; k < n * C; k++) d += fabs((double)a[k] - b[k]);
    return d / n;
}

static void check_effect(AlbefClsTask which) {
    World w;
    ASSERT_MSG(world_open(&w, which) == 0, "%s", error_message());
    const Task *t = &w.task;
    TaskModel orig, un;
    ASSERT(t->model_init(t, &orig, 1) == 0 && t->model_init(t, &un, 1) == 0);
    AlbefCls *m0 = task_albef_cls(&orig), *m = task_albef_cls(&un);
    const int C = m0->n_classes;

    /* θ0: a short run of the task loss, so that its predictions depend on the pair. */
    AdamW opt;
    adamw_init(&opt, &m0->params, 0.9f, 0.999f, 1e-8f, 0.0f);
    int64_t batch_items[16];
    for (int step = 0; step < 200; step++) {
        for (int i = 0; i < 16; i++) batch_items[i] = (step * 16 + i) % w.train.n;
        TaskBatch b;
        ASSERT(t->batch_make(t, batch_items, 16, 0, 3, (uint64_t)step, &b) == 0);
        t->model_set_mode(t, &orig, 1, (uint64_t)step);
        TaskLossOptions lo = {.steps_per_epoch = 1};
        TaskLossOutput out;
        autograd_backward(t->loss(t, &orig, &b, &lo, &out));
        adamw_step(&opt, 2e-3f);
        params_zero_grad(&m0->params);
        autograd_step_end();
    }
    adamw_free(&opt);
    task_model_copy(&un, &orig);

    /* Df: the items of the first groups (2 premise images of 6 hypotheses each, or 4 image
     * pairs, most with one statement); Dr: the rest. */
    int df_groups = which == ALBEF_TASK_NLVR2 ? 4 : 2;
    int64_t df[64], dr[512], mis[64];
    int n_df = 0, n_dr = 0;
    for (int64_t i = 0; i < w.train.n; i++) {
        if (t->item_group(t, i) < df_groups && n_df < 64) df[n_df++] = i;
        else if (n_dr < 512) dr[n_dr++] = i;
    }
    ASSERT(n_df >= 4 && n_dr >= 16);
    int32_t perm[64];
    for (int i = 0; i < n_df; i++) { /* each Df item takes the next one's sentence */
        perm[i] = (int32_t)((i + 1) % n_df);
        mis[i] = df[perm[i]];
    }
    int64_t test_items[512];
    int n_test = (int)(w.test.n < 512 ? w.test.n : 512);
    for (int i = 0; i < n_test; i++) test_items[i] = i;
    float *target = malloc((size_t)n_df * C * sizeof(float)), *p_df = malloc((size_t)n_df * C * sizeof(float));
    float *p_df0 = malloc((size_t)n_df * C * sizeof(float));
    float *test0 = malloc((size_t)n_test * C * sizeof(float)), *test1 = malloc((size_t)n_test * C * sizeof(float));
    probs_of(&w, m0, &w.train, df, mis, n_df, target); /* θ0 on the mismatched pairs */
    probs_of(&w, m0, &w.train, df, NULL, n_df, p_df);
    memcpy(p_df0, p_df, (size_t)n_df * C * sizeof(float));
    probs_of(&w, m0, &w.test, test_items, NULL, n_test, test0);
    double before = mean_l1(p_df, target, n_df, C);

    AdamW uopt;
    adamw_init(&uopt, &m->params, 0.9f, 0.999f, 1e-8f, 0.0f);
    MultiDeleteOptions mo = multidelete_default_options();
    /* 120 steps: NLVR2's Df distance falls to 0.03 of its start with
     * OpenBLAS's Haswell kernels and with its SkylakeX ones (VE 0.05, 0.04);
     * after 80 it had reached 0.09 with SkylakeX but only 0.44 with Haswell,
     * so the check passed or failed with the machine's BLAS kernels. */
    for (int step = 0; step < 120; step++) {
        int64_t dr_items[16];
        for (int i = 0; i < 16; i++) dr_items[i] = dr[(step * 16 + i) % n_dr];
        TaskBatch bdf, bdr;
        ASSERT(t->batch_make(t, df, n_df, 0, 5, (uint64_t)step, &bdf) == 0);
        ASSERT(t->batch_make(t, dr_items, 16, 0, 5, (uint64_t)step, &bdr) == 0);
        t->model_set_mode(t, &un, 1, (uint64_t)step);
        t->model_set_mode(t, &orig, 0, 0);
        MultiDeleteTerms terms;
        autograd_backward(multidelete_loss(t, &un, &orig, &bdf, &bdr, perm, &mo, &terms));
        adamw_step(&uopt, 1e-3f);
        params_zero_grad(&m->params);
        autograd_step_end();
    }
    adamw_free(&uopt);
    probs_of(&w, m, &w.train, df, NULL, n_df, p_df);
    probs_of(&w, m, &w.test, test_items, NULL, n_test, test1);
    double after = mean_l1(p_df, target, n_df, C), test_moved = mean_l1(test1, test0, n_test, C);
    double df_moved = mean_l1(p_df, p_df0, n_df, C);
    int right0 = 0, right1 = 0;
    for (int i = 0; i < n_test; i++) {
        int a = 0, b = 0;
        for (int c = 1; c < C; c++) {
            if (test0[i * C + c] > test0[i * C + a]) a = c;
            if (test1[i * C + c] > test1[i * C + b]) b = c;
        }
        right0 += a == w.test.labels[i];
        right1 += b == w.test.labels[i];
    }
    double acc0 = (double)right0 / n_test, acc1 = (double)right1 / n_test;
    printf("    %s: Df distance to θ0 on mismatched pairs %.4f -> %.4f (Df moved %.4f); test predictions moved "
           "%.4f; test accuracy %.3f -> %.3f (%d items)\n",
           albef_cls_task_name(which), before, after, df_moved, test_moved, acc0, acc1, n_test);
    free(target), free(p_df), free(p_df0), free(test0), free(test1);
    t->model_free(t, &orig);
    t->model_free(t, &un);
    world_close(&w);
    ASSERT(before > 0.05);                  /* θ0 tells the true pairs from the mismatched ones */
    ASSERT(after < 0.25 * before);          /* Df predictions moved toward θ0's on mismatched pairs */
    ASSERT(test_moved < 0.5 * df_moved);    /* the test items' far less */
    ASSERT(fabs(acc1 - acc0) <= 0.13);      /* and Dt stays */
}

TEST(test_multidelete_moves_ve_predictions_toward_mismatched_pairs) { check_effect(ALBEF_TASK_SNLI_VE); }
TEST(test_multidelete_moves_nlvr_predictions_toward_mismatched_pairs) { check_effect(ALBEF_TASK_NLVR2); }
