/* eval/unimodal_features.h, the probe's features (spec/unlearning_methods.md
 * §6.4): on retrieval they are bit for bit the retrieval evaluation's ITC
 * features (image through each image's first caption, batched as the image
 * pass batches images; text over every caption), so bin/probe's retrieval
 * numbers did not move when it went through the task; on SNLI-VE they are
 * the task's sides in eval mode, whatever the batching, and the fused z that
 * bin/embed --task writes is Task.fused's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "data/synth_image_text.h"
#include "eval/item_representations.h"
#include "eval/retrieval_eval.h"
#include "eval/unimodal_features.h"
#include "models/task_cls.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"

TEST(test_unimodal_features_are_the_retrieval_itc_features_bit_for_bit) {
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    Albef m;
    RetrievalSet test;
    ASSERT(eval_world_model(&m, tok, 21) == 0 && eval_world_set(&test, "test", tok, &m.cfg) == 0);
    Task t;
    task_retrieval_init(&t, &m.cfg, NULL, &test, NULL);
    TaskModel tm = task_retrieval_wrap(&m);
    RetrievalEvalOptions o = retrieval_eval_defaults();
    o.image_batch = o.text_batch = 3;
    o.progress = 0;
    RetrievalEmbeddings e;
    ASSERT(retrieval_eval_embed_set(&m, &test, &o, &e) == 0);
    int64_t ni = test.split.n_images, nt = test.split.n_texts;
    int64_t *first = malloc((size_t)ni * sizeof *first), *all = malloc((size_t)nt * sizeof *all);
    for (int64_t k = nt - 1; k >= 0; k--) first[test.split.txt2img[k]] = k, all[k] = k;
    int di, dt;
    float *img = unimodal_features(&t, &tm, TASK_SPLIT_TEST, first, ni, 3, UNIMODAL_IMAGE, &di);
    float *txt = unimodal_features(&t, &tm, TASK_SPLIT_TEST, all, nt, 3, UNIMODAL_TEXT, &dt);
    ASSERT(img && txt && di == e.embed_dim && dt == e.embed_dim);
    ASSERT(memcmp(img, e.image_feat, (size_t)ni * di * sizeof(float)) == 0);
    ASSERT(memcmp(txt, e.text_feat, (size_t)nt * dt * sizeof(float)) == 0);
    ASSERT(m.dropout.training == 0);
    free(img), free(txt), free(first), free(all);
    retrieval_embeddings_free(&e);
    t.free(&t);
    retrieval_set_free(&test);
    albef_free(&m);
    tokenizer_free(tok);
}

/* Each item's features are its Task.sides rows in eval mode; an NLVR2 item's
 * image features are its left then right image's rows side by side. */
static void check_cls_sides(AlbefClsTask which) {
    int nlvr = which == ALBEF_TASK_NLVR2;
    char dir[512], path[1024], root[1024], cfgp[1024];
    SynthImageTextOptions so = synth_image_text_defaults();
    so.train_images = 4, so.val_images = 2, so.test_images = 2, so.image_size = 32, so.vocab_size = 300;
    test_tmp_path(dir, sizeof dir, nlvr ? "unimodal_nlvr_world" : "unimodal_ve_world");
    ASSERT_MSG(synth_image_text_write(&so, dir) == 0, "%s", error_message());
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Tokenizer *tok = tokenizer_load(path);
    ModelConfig cfg;
    snprintf(cfgp, sizeof cfgp, "%s/../../models/configs/%s.json", test_fixture_dir(), nlvr ? "albef-tiny-nlvr" : "albef-tiny-ve");
    ASSERT(tok && model_config_load(&cfg, cfgp) == 0 && model_config_use_vocab_file(&cfg, path) == 0);
    cfg.image_size = 32;
    ClsSet set;
    snprintf(root, sizeof root, "%s/images", dir);
    snprintf(path, sizeof path, "%s/%s", dir, nlvr ? "nlvr_test.json" : "ve_test.json");
    ASSERT_MSG(cls_set_load(&set, nlvr ? CLS_SET_NLVR2 : CLS_SET_SNLI_VE, path, root, tok, 24, 32, 1 << 24) == 0, "%s", error_message());
    Task t;
    task_cls_init(&t, which, &cfg, tok, NULL, &set, NULL, 0);
    TaskModel m;
    ASSERT(t.model_init(&t, &m, 2) == 0);
    int n = set.n < 6 ? (int)set.n : 6;
    ASSERT(n >= 2);
    int64_t items[6] = {0, 1, 2, 3, 4, 5};
    int di, dt;
    t.model_set_mode(&t, &m, 1, 5); /* the features are eval mode's, whatever mode the caller left */
    float *img = unimodal_features(&t, &m, TASK_SPLIT_TEST, items, n, 2, UNIMODAL_IMAGE, &di);
    float *txt = unimodal_features(&t, &m, TASK_SPLIT_TEST, items, n, 2, UNIMODAL_TEXT, &dt);
    ASSERT(img && txt);
    int prev = autograd_set_enabled(0);
    TaskBatch b;
    ASSERT(t.split_batch_make(&t, TASK_SPLIT_TEST, items, n, &b) == 0);
    TaskSides s = t.sides(&t, &m, &b);
    int per = nlvr ? 2 : 1, D = (int)s.image_feat->shape[1];
    ASSERT_EQ_INT((int)s.image_feat->shape[0], per * n);
    ASSERT_EQ_INT(di, per * D);
    ASSERT_EQ_INT(dt, (int)s.text_feat->shape[1]);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < per; r++)
            for (int c = 0; c < D; c++)
                ASSERT_NEAR(img[(int64_t)i * di + r * D + c], tensor_f32(s.image_feat)[((int64_t)r * n + i) * D + c], 1e-5);
    for (int64_t k = 0; k < (int64_t)n * dt; k++) ASSERT_NEAR(txt[k], tensor_f32(s.text_feat)[k], 1e-5);
    /* bin/embed's fused z (eval/item_representations.h): Task.fused's rows, one per item */
    Tensor *z = t.fused(&t, &m, &b, &s);
    ASSERT(z->ndim == 2 && z->shape[0] == n);
    int dz = (int)z->shape[1];
    float *z_host = malloc((size_t)n * dz * sizeof *z_host);
    memcpy(z_host, tensor_f32(z), (size_t)n * dz * sizeof *z_host);
    autograd_step_end(); /* the batch's tensors go here, as inside item_representations */
    ItemRepresentations rep;
    ASSERT(item_representations(&t, &m, TASK_SPLIT_TEST, items, n, 2, ITEM_REP_FUSED | ITEM_REP_IMAGE, &rep) == 0);
    ASSERT(rep.text == NULL && rep.image_dim == di && rep.fused_dim == dz);
    ASSERT(memcmp(rep.image, img, (size_t)n * di * sizeof(float)) == 0);
    for (int64_t k = 0; k < (int64_t)n * dz; k++) ASSERT_NEAR(rep.fused[k], z_host[k], 1e-5);
    item_representations_free(&rep);
    free(z_host);
    autograd_set_enabled(prev);
    autograd_step_end();
    free(img), free(txt);
    t.model_free(&t, &m);
    t.free(&t);
    cls_set_free(&set);
    tokenizer_free(tok);
}

TEST(test_unimodal_features_are_the_snli_ve_sides) { check_cls_sides(ALBEF_TASK_SNLI_VE); }

TEST(test_unimodal_features_are_the_nlvr2_sides_left_then_right) { check_cls_sides(ALBEF_TASK_NLVR2); }
