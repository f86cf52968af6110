/* NegGrad (spec/unlearning_methods.md §4.3) on the tiny eval world, from a
 * model first trained on all of it: the ascent raises the Df task loss; the
 * stopping rule ends the loop at the first Df batch whose ITM match rate is at
 * or below the threshold, long before the step budget, and without the rule
 * the budget is spent; -F leaves every non-fusion parameter bit-identical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "models/retrieval_batch.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/neggrad.h"
#include "unlearn/train_loop.h"

#define DF_IMAGES 4 /* images 0..3: 20 Df pairs */
#define TRAIN_LR 1e-2
#define TRAIN_EPOCHS 8

typedef struct {
    Tokenizer *tok;
    RetrievalSet train;
    Albef m;
    Task task; /* retrieval over train */
    int64_t df[64], n_df;
} Fixture;

/* The eval world's model trained on all 60 pairs, so that it calls its
 * training pairs matches before the ascent (the state NegGrad starts from).
 * Trained once per test run (BERT init, not the fixture's wide weights, so
 * that ITM learns within a few dozen steps) and copied into each fixture. */
static int fixture_load(Fixture *f) {
    static float *trained;
    memset(f, 0, sizeof *f);
    f->tok = eval_world_tokenizer();
    ModelConfig c;
    if (!f->tok || eval_world_config(&c, tokenizer_vocab_size(f->tok)) < 0) return -1;
    c.text_dropout = 0;
    albef_init(&f->m, &c, 21);
    if (eval_world_set(&f->train, "train", f->tok, &f->m.cfg) < 0) return -1;
    task_retrieval_init(&f->task, &f->m.cfg, &f->train, NULL, NULL);
    int64_t all[64], n = f->train.split.n_texts;
    for (int64_t t = 0; t < n; t++) {
        all[t] = t;
        if (f->train.split.txt2img[t] < DF_IMAGES) f->df[f->n_df++] = t;
    }
    size_t bytes = (size_t)f->m.params.total * sizeof(float);
    if (!trained) {
        Recipe r = {.init_lr = TRAIN_LR, .min_lr = TRAIN_LR, .warmup_lr = TRAIN_LR, .weight_decay = 0.02,
                    .epochs = TRAIN_EPOCHS, .batch_size = 10};
        TrainStats st;
        TaskModel tm = task_retrieval_wrap(&f->m);
        if (train_task_model(&f->task, &tm, all, n, &r, 9, &st) < 0) return -1;
        trained = malloc(bytes);
        memcpy(trained, f->m.params.values, bytes);
    }
    memcpy(f->m.params.values, trained, bytes);
    return 0;
}

static void fixture_free(Fixture *f) {
    albef_free(&f->m);
    retrieval_set_free(&f->train);
    tokenizer_free(f->tok);
}

static void copy_model(Albef *dst, const Albef *src) {
    albef_init(dst, &src->cfg, 1);
    params_copy_values(&dst->params, &src->params);
}

/* Mean task loss over the Df pairs in fixed batches of 5, eval mode, fixed
 * negatives (the tiny config has no queue or momentum, so no side effects). */
static double df_task_loss(Albef *m, const Fixture *f) {
    int prev = autograd_set_enabled(0);
    double sum = 0;
    int n = 0;
    int64_t ids[5];
    albef_set_mode(m, 0, 0);
    for (int64_t k = 0; k + 5 <= f->n_df; k += 5, n++) {
        AlbefBatch b;
        CHECK(retrieval_batch_make(&f->train, f->df + k, 5, IMAGE_AUG_NONE, 0, 0, ids, &b) == 0, "batch");
        /* Batches of one image's captions have no negatives: interleave instead. */
        AlbefLossOptions lo = {.alpha = 0, .sample_seed = 77, .sample_stream = (uint64_t)k};
        AlbefLossOutput out;
        Tensor *loss = albef_retrieval_loss(m, &b, &lo, &out);
        CHECK(loss != NULL, "%s", error_message());
        sum += tensor_f32(loss)[0];
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    return sum / n;
}

/* Df pairs reordered so that every batch of 5 mixes images. */
static void interleave_df(Fixture *f) {
    int64_t tmp[64];
    int64_t per = f->n_df / DF_IMAGES;
    for (int64_t k = 0; k < f->n_df; k++) tmp[k] = f->df[(k % DF_IMAGES) * per + k / DF_IMAGES];
    memcpy(f->df, tmp, (size_t)f->n_df * sizeof *tmp);
}

TEST(test_neggrad_raises_df_task_loss) {
    Fixture f;
    ASSERT(fixture_load(&f) == 0);
    interleave_df(&f);
    Albef m;
    copy_model(&m, &f.m);
    double before = df_task_loss(&m, &f);
    NegGradRun run = {.lr = 3e-3, .epochs = 2, .batch_size = 5, .weight_decay = 0.02, .stop_loss = 0, .seed = 3};
    NegGradStats st;
    ASSERT(neggrad_unlearn(&f.task, &(TaskModel){.net = &m, .params = &m.params}, f.df, f.n_df, &run, &st) == 0);
    double after = df_task_loss(&m, &f);
    ASSERT_EQ_INT(st.steps, 2 * (20 / 5));
    ASSERT_EQ_INT(st.stopped, 0);
    /* Below chance before (the model fits Df), far above it after. */
    ASSERT_MSG(before < f.task.chance_loss(&f.task, &(TaskModel){.net = &f.m, .params = &f.m.params}, 5), "Df task loss before %.4f", before);
    ASSERT_MSG(after > before + 0.5, "Df task loss %.4f -> %.4f did not rise", before, after);
    /* The loop's own first batch loss is of the trained model: a model that fits Df. */
    ASSERT_MSG(st.last_loss > st.first_loss, "batch loss %.4f -> %.4f", st.first_loss, st.last_loss);
    albef_free(&m);
    fixture_free(&f);
}

TEST(test_neggrad_stops_by_its_rule) {
    Fixture f;
    ASSERT(fixture_load(&f) == 0);
    Albef guarded, free_run;
    copy_model(&guarded, &f.m);
    copy_model(&free_run, &f.m);
    double chance = f.task.chance_loss(&f.task, &(TaskModel){.net = &f.m, .params = &f.m.params}, 5);
    ASSERT_NEAR(chance, log(5.0) + log(2.0), 1e-12);
    NegGradRun run = {.lr = 1e-3, .epochs = 30, .batch_size = 5, .weight_decay = 0.02, .stop_loss = chance, .seed = 3};
    NegGradStats st, st_free;
    ASSERT(neggrad_unlearn(&f.task, &(TaskModel){.net = &guarded, .params = &guarded.params}, f.df, f.n_df, &run, &st) == 0);
    ASSERT_EQ_INT(st.max_steps, 30 * 4);
    ASSERT_MSG(st.first_loss < chance, "the trained model's first Df batch loss %.3f vs chance %.3f",
               st.first_loss, chance);
    ASSERT_EQ_INT(st.stopped, 1);
    ASSERT_MSG(st.last_loss >= chance, "stopped at loss %.3f below chance %.3f", st.last_loss, chance);
    ASSERT_MSG(st.steps >= 1 && st.steps < st.max_steps / 2, "stopped after %lld steps", (long long)st.steps);
    run.stop_loss = 0;
    ASSERT(neggrad_unlearn(&f.task, &(TaskModel){.net = &free_run, .params = &free_run.params}, f.df, f.n_df, &run, &st_free) == 0);
    ASSERT_EQ_INT(st_free.stopped, 0);
    ASSERT_EQ_INT(st_free.steps, st.max_steps);
    /* The guarded run is the free run's prefix: the same first batch, then the
     * free run ascends far past chance (the run-away the rule prevents). */
    ASSERT_NEAR(st_free.first_loss, st.first_loss, 0);
    ASSERT_MSG(st_free.last_loss > chance + 1.0, "unguarded ascent ended at %.3f (chance %.3f)", st_free.last_loss,
               chance);
    albef_free(&guarded);
    albef_free(&free_run);
    fixture_free(&f);
}

TEST(test_neggrad_fusion_only_leaves_non_fusion_bit_identical) {
    Fixture f;
    ASSERT(fixture_load(&f) == 0);
    Albef m;
    copy_model(&m, &f.m);
    ASSERT(albef_set_fusion_only(&m) > 0);
    NegGradRun run = {.lr = 1e-3, .epochs = 1, .batch_size = 5, .weight_decay = 0.02, .stop_loss = 0, .seed = 3};
    NegGradStats st;
    ASSERT(neggrad_unlearn(&f.task, &(TaskModel){.net = &m, .params = &m.params}, f.df, f.n_df, &run, &st) == 0);
    ASSERT_EQ_INT(st.steps, 4);
    int changed_fusion = 0;
    for (int k = 0; k < m.params.count; k++) {
        const Tensor *p = m.params.items[k], *q = f.m.params.items[k];
        int same = memcmp(tensor_f32(p), tensor_f32(q), (size_t)tensor_numel(p) * sizeof(float)) == 0;
        if (p->requires_grad)
            changed_fusion += !same;
        else
            ASSERT_MSG(same, "non-fusion parameter %s changed under -F", p->name);
    }
    ASSERT_MSG(changed_fusion > 0, "no fusion parameter changed");
    /* The trainable set is exactly the fusion layers and the ITM head. */
    for (int k = 0; k < m.params.count; k++) {
        const char *name = m.params.items[k]->name;
        int fusion = !strncmp(name, "itm_head.", 9) || !strncmp(name, "text_encoder.encoder.layer.2.", 29) ||
                     !strncmp(name, "text_encoder.encoder.layer.3.", 29);
        ASSERT_MSG(m.params.items[k]->requires_grad == fusion, "%s trainable = %d", name,
                   m.params.items[k]->requires_grad);
    }
    albef_free(&m);
    fixture_free(&f);
}
