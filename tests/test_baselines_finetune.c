/* FineTune (spec/unlearning_methods.md §4.2) on the tiny eval world: it never
 * reads Df (the result is bit-identical when every Df caption, image and
 * image link is corrupted, while NegGrad's changes under the same
 * corruption), it does train, and -F leaves every non-fusion parameter
 * bit-identical. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/finetune.h"
#include "unlearn/neggrad.h"

#define DF_IMAGES 3 /* images 0..2: 15 Df pairs, 45 Dr pairs */

typedef struct {
    Tokenizer *tok;
    RetrievalSet train;
    int64_t df[64], dr[64], n_df, n_dr;
} World;

static int world_load(World *w) {
    memset(w, 0, sizeof *w);
    Albef probe;
    w->tok = eval_world_tokenizer();
    if (!w->tok || eval_world_model(&probe, w->tok, 1) < 0) return -1;
    int rc = eval_world_set(&w->train, "train", w->tok, &probe.cfg);
    albef_free(&probe);
    for (int64_t t = 0; rc == 0 && t < w->train.split.n_texts; t++) {
        if (w->train.split.txt2img[t] < DF_IMAGES)
            w->df[w->n_df++] = t;
        else
            w->dr[w->n_dr++] = t;
    }
    return rc;
}

static void world_free(World *w) {
    retrieval_set_free(&w->train);
    tokenizer_free(w->tok);
}

/* Overwrites every Df caption with one token, points every Df caption at a
 * Dr image, and blanks the cached pixels of the Df images: any read of Df
 * would now see different data. */
static void corrupt_df(World *w) {
    RetrievalSet *s = &w->train;
    for (int64_t k = 0; k < w->n_df; k++) {
        int64_t t = w->df[k];
        for (int j = 1; j < s->max_len && s->mask[t * s->max_len + j]; j++) s->ids[t * s->max_len + j] = 1;
        s->split.txt2img[t] = DF_IMAGES + k % 2;
    }
    for (int64_t img = 0; s->cache && img < DF_IMAGES; img++) {
        Image *im = &s->cache[img];
        size_t bytes = (size_t)im->width * (size_t)im->height * 3 * (im->dtype == IMAGE_U8 ? 1 : sizeof(float));
        memset(im->data, 0, bytes);
    }
}

static FineTuneRun tiny_run(void) {
    return (FineTuneRun){.lr = 1e-3, .epochs = 1, .batch_size = 8, .weight_decay = 0.02, .augment = 0, .seed = 5};
}

static int fusion_param(const Albef *m, const char *name) {
    if (strncmp(name, "itm_head.", 9) == 0) return 1;
    for (int l = m->cfg.fusion_layer; l < m->cfg.text_layers; l++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "text_encoder.encoder.layer.%d.", l);
        if (strncmp(name, prefix, strlen(prefix)) == 0) return 1;
    }
    return 0;
}

TEST(test_finetune_never_reads_df) {
    World w;
    ASSERT(world_load(&w) == 0);
    ASSERT_EQ_INT(w.n_df, 15);
    ASSERT_EQ_INT(w.n_dr, 45);
    Albef clean, dirty, ng_clean, ng_dirty;
    ASSERT(eval_world_model(&clean, w.tok, 3) == 0 && eval_world_model(&dirty, w.tok, 3) == 0);
    ASSERT(eval_world_model(&ng_clean, w.tok, 3) == 0 && eval_world_model(&ng_dirty, w.tok, 3) == 0);
    float *start = malloc((size_t)clean.params.total * sizeof(float));
    memcpy(start, clean.params.values, (size_t)clean.params.total * sizeof(float));
    FineTuneRun run = tiny_run();
    NegGradRun ng = {.lr = 1e-3, .epochs = 1, .batch_size = 5, .weight_decay = 0.02, .stop_loss = 0, .seed = 5};
    TrainStats st;
    NegGradStats ngs;
    Task task;
    task_retrieval_init(&task, &clean.cfg, &w.train, NULL, NULL);
    TaskModel t_clean = task_retrieval_wrap(&clean), t_dirty = task_retrieval_wrap(&dirty);
    TaskModel t_ng_clean = task_retrieval_wrap(&ng_clean), t_ng_dirty = task_retrieval_wrap(&ng_dirty);
    ASSERT(finetune_unlearn(&task, &t_clean, w.dr, w.n_dr, &run, &st) == 0);
    ASSERT(neggrad_unlearn(&task, &t_ng_clean, w.df, w.n_df, &ng, &ngs) == 0);
    ASSERT_EQ_INT(st.steps, 45 / 8);
    corrupt_df(&w);
    ASSERT(finetune_unlearn(&task, &t_dirty, w.dr, w.n_dr, &run, &st) == 0);
    ASSERT(neggrad_unlearn(&task, &t_ng_dirty, w.df, w.n_df, &ng, &ngs) == 0);
    size_t bytes = (size_t)clean.params.total * sizeof(float);
    /* FineTune trained, and its result ignores everything about Df ... */
    ASSERT(memcmp(clean.params.values, start, bytes) != 0);
    ASSERT(memcmp(clean.params.values, dirty.params.values, bytes) == 0);
    /* ... while a method that reads Df sees the corruption. */
    ASSERT(memcmp(ng_clean.params.values, ng_dirty.params.values, bytes) != 0);
    free(start);
    albef_free(&clean);
    albef_free(&dirty);
    albef_free(&ng_clean);
    albef_free(&ng_dirty);
    world_free(&w);
}

TEST(test_finetune_fusion_only_leaves_non_fusion_bit_identical) {
    World w;
    ASSERT(world_load(&w) == 0);
    Albef m, ref;
    ASSERT(eval_world_model(&m, w.tok, 4) == 0 && eval_world_model(&ref, w.tok, 4) == 0);
    /* The fixture's noise can push temp out of range; the loss clamps it in place
     * (a real model's temp is in range), so start from the clamped value. */
    albef_clamp_temp(&m);
    albef_clamp_temp(&ref);
    ASSERT(albef_set_fusion_only(&m) > 0);
    FineTuneRun run = tiny_run();
    TrainStats st;
    Task task;
    task_retrieval_init(&task, &m.cfg, &w.train, NULL, NULL);
    TaskModel tm = task_retrieval_wrap(&m);
    ASSERT(finetune_unlearn(&task, &tm, w.dr, w.n_dr, &run, &st) == 0);
    int changed_fusion = 0, n_fusion = 0;
    for (int k = 0; k < m.params.count; k++) {
        const Tensor *p = m.params.items[k], *q = ref.params.items[k];
        int same = memcmp(tensor_f32(p), tensor_f32(q), (size_t)tensor_numel(p) * sizeof(float)) == 0;
        if (fusion_param(&m, p->name)) {
            n_fusion++;
            changed_fusion += !same;
        } else {
            ASSERT_MSG(same, "non-fusion parameter %s changed under -F", p->name);
        }
    }
    /* Every fusion weight matrix moves; LayerNorm/bias tensors may too. */
    ASSERT_MSG(changed_fusion >= n_fusion / 2, "only %d of %d fusion tensors changed", changed_fusion, n_fusion);
    albef_free(&m);
    albef_free(&ref);
    world_free(&w);
}
