/* The SNLI-VE / NLVR2 tasks against the task contract (models/task.h): groups
 * are the deletion units, a loader yields what batch_make builds, the fused
 * representation and the L_MD targets are the model's own forward (on the
 * true and on the re-paired sentences), item_probs are the softmax of the
 * logits, in eval mode, leaving the caller's mode as it was. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "data/synth_image_text.h"
#include "models/albef.h"
#include "models/cls_batch.h"
#include "models/task_cls.h"
#include "tests/test.h"
#include "unlearn/multidelete_loss.h"

typedef struct {
    Tokenizer *tok;
    ClsSet train;
    ModelConfig cfg;
    Task task;
} Setup;

static int setup(Setup *s, AlbefClsTask which) {
    memset(s, 0, sizeof *s);
    static char dir[512];
    if (!dir[0]) {
        SynthImageTextOptions o = synth_image_text_defaults();
        o.train_images = 8;
        o.val_images = 2;
        o.test_images = 2;
        o.image_size = 32;
        o.vocab_size = 300;
        test_tmp_path(dir, sizeof dir, "task_cls_world");
        if (synth_image_text_write(&o, dir) < 0) return -1;
    }
    char path[1024], root[1024], cfg[1024];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (!(s->tok = tokenizer_load(path))) return -1;
    snprintf(cfg, sizeof cfg, "%s/../../models/configs/%s", test_fixture_dir(),
             which == ALBEF_TASK_NLVR2 ? "albef-tiny-nlvr.json" : "albef-tiny-ve.json");
    if (model_config_load(&s->cfg, cfg) || model_config_use_vocab_file(&s->cfg, path)) return -1;
    s->cfg.image_size = 32;
    s->cfg.text_dropout = 0.0f;
    snprintf(root, sizeof root, "%s/images", dir);
    snprintf(path, sizeof path, "%s/%s", dir, which == ALBEF_TASK_NLVR2 ? "nlvr_train.json" : "ve_train.json");
    if (cls_set_load(&s->train, which == ALBEF_TASK_NLVR2 ? CLS_SET_NLVR2 : CLS_SET_SNLI_VE, path, root, s->tok, 24,
                     32, 1 << 24))
        return -1;
    task_cls_init(&s->task, which, &s->cfg, s->tok, &s->train, &s->train, NULL, 0);
    return 0;
}

static void teardown(Setup *s) {
    s->task.free(&s->task);
    cls_set_free(&s->train);
    tokenizer_free(s->tok);
}

static double max_abs_diff(const Tensor *a, const Tensor *b) {
    double d = 0.0;
    for (int64_t k = 0; k < tensor_numel(a); k++) d = fmax(d, fabs((double)tensor_f32(a)[k] - tensor_f32(b)[k]));
    return d;
}

static void check_task(AlbefClsTask which) {
    Setup s;
    ASSERT_MSG(setup(&s, which) == 0, "%s", error_message());
    const Task *t = &s.task;
    ASSERT_EQ_INT(t->n_classes, which == ALBEF_TASK_NLVR2 ? 2 : 3);
    /* groups: items with one deletion key share one group, others differ */
    for (int64_t i = 0; i < s.train.n; i++)
        for (int64_t j = 0; j < i; j++)
            ASSERT((t->item_group(t, i) == t->item_group(t, j)) == !strcmp(s.train.keys[i], s.train.keys[j]));

    TaskModel m;
    ASSERT(t->model_init(t, &m, 3) == 0);
    AlbefCls *a = task_albef_cls(&m);
    int64_t items[6] = {0, 1, 2, 3, 4, 5};
    int32_t perm[6] = {2, 0, 1, 5, 3, 4};
    TaskBatch b, lb;
    ASSERT(t->batch_make(t, items, 6, 0, 1, 0, &b) == 0);
    ASSERT_EQ_INT(b.image->shape[0], 6 * a->n_images);
    TaskLoader *l = t->loader_start(t, items, 1, 6, 0, 1, 0);
    ASSERT(t->loader_next(l, &lb) == 1);
    ASSERT(!memcmp(tensor_f32(b.image), tensor_f32(lb.image), tensor_nbytes(b.image)));
    ASSERT(!memcmp(tensor_i32(b.text_ids), tensor_i32(lb.text_ids), tensor_nbytes(b.text_ids)));
    ASSERT(t->loader_next(l, &lb) == 0);
    t->loader_stop(l);

    /* fused and md_targets against the model's own forward */
    t->model_set_mode(t, &m, 0, 0);
    int prev = autograd_set_enabled(0);
    TaskSides sd = t->sides(t, &m, &b);
    ASSERT_EQ_INT(sd.n_retain, 1);
    ASSERT(sd.retain[0] == sd.image_tokens);
    Tensor *z = t->fused(t, &m, &b, &sd), *target[TASK_MAX_MD_TERMS];
    ASSERT_EQ_INT(t->md_targets(t, &m, &b, &sd, perm, target), 1);
    AlbefClsBatch ab, texts;
    int64_t perm_items[6];
    for (int i = 0; i < 6; i++) perm_items[i] = items[perm[i]];
    ASSERT(cls_batch_make(&s.train, s.tok, items, 6, IMAGE_AUG_NONE, 0, 1, 0, &ab, NULL) == 0);
    ASSERT(cls_batch_make(&s.train, s.tok, perm_items, 6, IMAGE_AUG_NONE, 0, 1, 0, &texts, NULL) == 0);
    AlbefClsOutput f = albef_cls_forward(a, &ab);
    ASSERT(max_abs_diff(z, f.fused_cls) < 1e-5);
    ab.text_ids = texts.text_ids; /* the same images with the permuted sentences */
    ab.text_mask = texts.text_mask;
    AlbefClsOutput fp = albef_cls_forward(a, &ab);
    ASSERT(max_abs_diff(target[0], fp.fused_cls) < 1e-5);
    ASSERT(max_abs_diff(target[0], z) > 1e-3); /* the re-pairing changes it */
    autograd_set_enabled(prev);
    autograd_step_end();

    /* item_probs: rows sum to 1, match softmax(logits), the caller's train mode comes back */
    t->model_set_mode(t, &m, 1, 9);
    float probs[6 * 3];
    ASSERT(t->item_probs(t, &m, TASK_SPLIT_TEST, items, 6, 4, probs) == 0);
    ASSERT(a->dropout.training == 1);
    for (int i = 0; i < 6; i++) {
        double sum = 0.0;
        for (int c = 0; c < t->n_classes; c++) sum += probs[i * t->n_classes + c];
        ASSERT_NEAR(sum, 1.0, 1e-5);
    }
    t->model_set_mode(t, &m, 0, 0);
    prev = autograd_set_enabled(0);
    ASSERT(cls_batch_make(&s.train, s.tok, items, 6, IMAGE_AUG_NONE, 0, 0, 0, &ab, NULL) == 0);
    const float *logits = tensor_f32(albef_cls_forward(a, &ab).logits);
    for (int i = 0; i < 6; i++) {
        const int C = t->n_classes;
        double mx = -1e30, sum = 0.0;
        for (int c = 0; c < C; c++) mx = fmax(mx, logits[i * C + c]);
        for (int c = 0; c < C; c++) sum += exp(logits[i * C + c] - mx);
        for (int c = 0; c < C; c++) ASSERT_NEAR(probs[i * C + c], exp(logits[i * C + c] - mx) / sum, 1e-6);
    }
    autograd_set_enabled(prev);
    autograd_step_end();
    ASSERT(t->item_probs(t, &m, TASK_SPLIT_VAL, items, 6, 4, probs) == -1); /* no val split given */
    ASSERT_STR_CONTAINS(error_message(), "validation");
    error_clear();
    /* item_label: the annotation's label of the split's item; an item outside the split is refused */
    for (int64_t i = 0; i < s.train.n; i++) ASSERT_EQ_INT(t->item_label(t, TASK_SPLIT_TEST, i), s.train.labels[i]);
    int seen[3] = {0};
    for (int64_t i = 0; i < s.train.n; i++) seen[s.train.labels[i]] = 1;
    ASSERT(seen[0] && seen[1]); /* the world has both labels, so a constant answer would fail above */
    ASSERT_EQ_INT(t->item_label(t, TASK_SPLIT_TEST, s.train.n), -1);
    ASSERT_STR_CONTAINS(error_message(), "not in the test split");
    ASSERT_EQ_INT(t->item_label(t, TASK_SPLIT_VAL, 0), -1);
    error_clear();
    t->model_free(t, &m);
    teardown(&s);
}

TEST(test_task_snli_ve_meets_the_task_contract) { check_task(ALBEF_TASK_SNLI_VE); }
TEST(test_task_nlvr2_meets_the_task_contract) { check_task(ALBEF_TASK_NLVR2); }

/* Task.model_init_from (--init): a retrieval ALBEF of the same widths gives
 * SNLI-VE its encoders bit for bit while cls_head keeps its initialisation;
 * an SNLI-VE checkpoint loads whole. */
TEST(test_snli_ve_init_from_takes_a_retrieval_albefs_encoders) {
    Setup s;
    ASSERT_MSG(setup(&s, ALBEF_TASK_SNLI_VE) == 0, "%s", error_message());
    const Task *t = &s.task;
    ModelConfig rc;
    char path[1024], dir[512], vocab[1100];
    snprintf(path, sizeof path, "%s/../../models/configs/albef-tiny.json", test_fixture_dir());
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", test_tmp_path(dir, sizeof dir, "task_cls_world"));
    ASSERT(model_config_load(&rc, path) == 0 && model_config_use_vocab_file(&rc, vocab) == 0);
    rc.image_size = s.cfg.image_size;
    Albef r;
    albef_init(&r, &rc, 7);
    char ckpt[600], own[600];
    test_tmp_path(ckpt, sizeof ckpt, "init_from_retrieval.safetensors");
    ASSERT(albef_save(&r, ckpt) == 0);
    TaskModel fresh, m;
    ASSERT(t->model_init(t, &fresh, 3) == 0 && t->model_init(t, &m, 3) == 0);
    ASSERT_MSG(t->model_init_from(t, &m, ckpt) == 0, "%s", error_message());
    int encoders = 0;
    for (int k = 0; k < m.params->count; k++) {
        const Tensor *p = m.params->items[k], *q = fresh.params->items[k];
        size_t bytes = (size_t)tensor_numel(p) * sizeof(float);
        if (!strncmp(p->name, "cls_head.", 9)) {
            ASSERT_MSG(!memcmp(tensor_f32(p), tensor_f32(q), bytes), "%s changed", p->name);
            continue;
        }
        const Tensor *src = params_find(&r.params, p->name);
        ASSERT_MSG(src && !memcmp(tensor_f32(p), tensor_f32(src), bytes), "%s is not the retrieval model's", p->name);
        encoders++;
    }
    ASSERT(encoders > 0);
    /* the task's own checkpoint (with its cls_head) loads as model_load does */
    test_tmp_path(own, sizeof own, "init_from_ve.safetensors");
    ASSERT(t->model_save(t, &fresh, own) == 0);
    ASSERT(t->model_init_from(t, &m, own) == 0);
    ASSERT(!memcmp(m.params->values, fresh.params->values, (size_t)m.params->total * sizeof(float)));
    t->model_free(t, &m);
    t->model_free(t, &fresh);
    albef_free(&r);
    teardown(&s);
}

/* --ukr-text (spec/unlearning_methods.md §5.2): the task built with it keeps
 * the text-mode [CLS] in L_UKR besides the ViT tokens, so L_UKR grows by
 * exactly MSE(t0, t') of two models whose text encoders differ; without it
 * L_UKR is the image term alone. On a tiny SNLI-VE batch. */
TEST(test_ukr_text_adds_the_text_cls_to_l_ukr) {
    Setup s;
    ASSERT_MSG(setup(&s, ALBEF_TASK_SNLI_VE) == 0, "%s", error_message());
    Task with_text;
    task_cls_init(&with_text, ALBEF_TASK_SNLI_VE, &s.cfg, s.tok, &s.train, &s.train, NULL, 1);
    const Task *t = &s.task;
    TaskModel theta0, theta;
    ASSERT(t->model_init(t, &theta0, 3) == 0 && t->model_init(t, &theta, 4) == 0);
    t->model_set_mode(t, &theta0, 0, 0);
    t->model_set_mode(t, &theta, 0, 0);
    int64_t df_items[4] = {0, 1, 2, 3}, dr_items[4] = {4, 5, 6, 7};
    int32_t perm[4] = {1, 2, 3, 0};
    MultiDeleteOptions opt = multidelete_default_options();
    int prev = autograd_set_enabled(0);
    TaskBatch df, dr;
    ASSERT(t->batch_make(t, df_items, 4, 0, 1, 0, &df) == 0 && t->batch_make(t, dr_items, 4, 0, 1, 0, &dr) == 0);
    TaskSides plain = t->sides(t, &theta, &df), text = with_text.sides(&with_text, &theta, &df);
    ASSERT_EQ_INT(plain.n_retain, 1);
    ASSERT_EQ_INT(text.n_retain, 2);
    ASSERT(text.retain[1] == text.text_feat);
    MultiDeleteTerms a, b;
    multidelete_loss(t, &theta, &theta0, &df, &dr, perm, &opt, &a);
    multidelete_loss(&with_text, &theta, &theta0, &df, &dr, perm, &opt, &b);
    TaskSides s0 = t->sides(t, &theta0, &df);
    double text_term = 0.0;
    const int64_t n = tensor_numel(s0.text_feat);
    for (int64_t k = 0; k < n; k++) {
        double d = (double)tensor_f32(plain.text_feat)[k] - tensor_f32(s0.text_feat)[k];
        text_term += d * d / (double)n;
    }
    ASSERT(text_term > 1e-4);
    ASSERT_NEAR(tensor_f32(b.ukr)[0] - tensor_f32(a.ukr)[0], text_term, 1e-5 * (1.0 + text_term));
    ASSERT_NEAR(tensor_f32(b.md)[0], tensor_f32(a.md)[0], 0.0); /* only L_UKR changes */
    autograd_set_enabled(prev);
    autograd_step_end();
    t->model_free(t, &theta);
    t->model_free(t, &theta0);
    with_text.free(&with_text);
    teardown(&s);
}

/* bin/train --task nlvr2 on a small world: the tiny NLVR2 config by default,
 * a checkpoint the NLVR2 model loads strictly (the method programs on the
 * task: tests/test_cls_programs.c). */
TEST(test_train_program_trains_nlvr2) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char world[512], run[512], cmd[4096], path[1100];
    test_tmp_path(world, sizeof world, "train_nlvr2_world");
    SynthImageTextOptions o = synth_image_text_defaults();
    o.train_images = 20; /* 40 items: one batch of 32 */
    o.val_images = 2;
    o.test_images = 2;
    o.image_size = 32;
    o.vocab_size = 300;
    ASSERT_MSG(synth_image_text_write(&o, world) == 0, "%s", error_message());
    test_tmp_path(run, sizeof run, "train_nlvr2");
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --task nlvr2 --data %s --out %s --epochs 1 --df-size 1 "
             "> %s.log 2>&1", bin, world, run, run);
    ASSERT_MSG(system(cmd) == 0, "%s failed (see %s.log)", cmd, run);
    ModelConfig c;
    snprintf(path, sizeof path, "%s/../../models/configs/albef-tiny-nlvr.json", test_fixture_dir());
    ASSERT(model_config_load(&c, path) == 0);
    snprintf(path, sizeof path, "%s/vocab.txt", world);
    ASSERT(model_config_use_vocab_file(&c, path) == 0);
    AlbefCls m;
    albef_cls_init(&m, &c, ALBEF_TASK_NLVR2, 1);
    snprintf(path, sizeof path, "%s/model.safetensors", run);
    ASSERT_MSG(albef_cls_load(&m, path) == 0, "%s", error_message());
    albef_cls_free(&m);
}

