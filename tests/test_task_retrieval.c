/* The retrieval task behind models/task.h and the loop skeleton on it:
 * - the skeleton's training equals, bit for bit, the training loop written out
 *   by hand on ALBEF (the loop every program ran before the task interface);
 * - the task's pieces are the ALBEF computations they name (loss, sides,
 *   fused, L_MD pairs, per-item probabilities, groups, the chance loss);
 * - a loader and batch_make give the same batch;
 * - --task names: the built tasks pass, a known task not built yet (pgr) and an
 *   unknown name fail with messages that say so. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"
#include "models/pair_outputs.h"
#include "models/retrieval_batch.h"
#include "models/task_retrieval.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/train_loop.h"

typedef struct {
    Tokenizer *tok;
    RetrievalSet train, test;
    Task task;
} World;

static int world_open(World *w, const ModelConfig *c) {
    memset(w, 0, sizeof *w);
    if (!(w->tok = eval_world_tokenizer())) return -1;
    if (eval_world_set(&w->train, "train", w->tok, c) < 0 || eval_world_set(&w->test, "test", w->tok, c) < 0)
        return -1;
    task_retrieval_init(&w->task, c, &w->train, &w->test, NULL);
    return 0;
}

static void world_close(World *w) {
    w->task.free(&w->task);
    retrieval_set_free(&w->train);
    retrieval_set_free(&w->test);
    tokenizer_free(w->tok);
}

/* The training loop as it was written before the skeleton, on ALBEF directly:
 * per-epoch Philox shuffle, drop_last batches from retrieval_batch_make, train
 * mode seeded per step, the ITC+ITM loss, AdamW with the LAVIS groups at the
 * LAVIS staircase rate. Streams as unlearn/train_loop.c. */
static int hand_written_train(Albef *m, const RetrievalSet *train, const int64_t *pairs, int64_t n, const Recipe *r,
                              uint64_t seed) {
    const uint64_t shuffle_stream = 0x747261696e736875ULL, dropout_stream = 0x747261696e64726fULL,
                   negatives_stream = 0x747261696e6e6567ULL;
    int B = r->batch_size;
    int64_t iters = n / B, steps = 0;
    AdamW opt;
    adamw_init(&opt, &m->params, 0.9f, 0.999f, 1e-8f, (float)r->weight_decay);
    adamw_use_lavis_decay_groups(&opt);
    int64_t *order = malloc((size_t)n * sizeof *order), *ids = malloc((size_t)B * sizeof *ids);
    int rc = 0;
    for (int epoch = 0; epoch < r->epochs && rc == 0; epoch++) {
        memcpy(order, pairs, (size_t)n * sizeof *order);
        Rng shuffle = rng_make(seed, shuffle_stream + (uint64_t)epoch);
        rng_shuffle_i64(&shuffle, order, n);
        for (int64_t it = 0; it < iters && rc == 0; it++) {
            float lr = lavis_cosine_lr((float)r->init_lr, (float)r->min_lr, epoch, r->epochs, (float)r->warmup_lr,
                                       r->warmup_steps, it);
            AlbefBatch b;
            rc = retrieval_batch_make(train, order + it * B, B, IMAGE_AUG_NONE, seed, (uint64_t)epoch, ids, &b);
            if (rc < 0) break;
            albef_set_mode(m, 1, philox_u32(seed, dropout_stream, (uint64_t)steps) ^ seed);
            AlbefLossOptions lo = {.alpha = model_config_alpha_at(&m->cfg, epoch, it, iters), .sample_seed = seed,
                                   .sample_stream = negatives_stream + (uint64_t)steps};
            AlbefLossOutput out;
            Tensor *loss = albef_retrieval_loss(m, &b, &lo, &out);
            if (!loss) {
                rc = -1;
                break;
            }
            autograd_backward(loss);
            adamw_step(&opt, lr);
            params_zero_grad(&m->params);
            autograd_step_end();
            steps++;
        }
    }
    albef_set_mode(m, 0, seed);
    free(order);
    free(ids);
    adamw_free(&opt);
    return rc;
}

TEST(test_task_training_equals_the_hand_written_albef_loop) {
    ModelConfig c;
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok && eval_world_config(&c, tokenizer_vocab_size(tok)) == 0, "%s", error_message());
    tokenizer_free(tok);
    World w;
    ASSERT_MSG(world_open(&w, &c) == 0, "%s", error_message());
    Albef a, b;
    ASSERT(eval_world_model(&a, w.tok, 5) == 0 && eval_world_model(&b, w.tok, 5) == 0);
    Recipe r = recipe_get("albef-tiny", "flickr30k");
    r.epochs = 2, r.batch_size = 10, r.warmup_steps = 3;
    int64_t n = w.train.split.n_texts, *pairs = malloc((size_t)n * sizeof *pairs);
    for (int64_t k = 0; k < n; k++) pairs[k] = (k * 7) % n; /* any order: the loop shuffles a copy */
    TaskModel ta = task_retrieval_wrap(&a);
    TrainStats st;
    int rc_task = train_task_model(&w.task, &ta, pairs, n, &r, 11, &st);
    int rc_hand = hand_written_train(&b, &w.train, pairs, n, &r, 11);
    ASSERT_MSG(rc_task == 0 && rc_hand == 0, "%s", error_message());
    ASSERT_EQ_INT(st.steps, 2 * (n / 10));
    ASSERT(memcmp(a.params.values, b.params.values, (size_t)a.params.total * sizeof(float)) == 0);
    free(pairs);
    albef_free(&a);
    albef_free(&b);
    world_close(&w);
}

static int same_tensor(Tensor *x, Tensor *y) {
    return tensor_same_shape(x, y) && memcmp(tensor_f32(x), tensor_f32(y), (size_t)tensor_nbytes(x)) == 0;
}

TEST(test_task_retrieval_pieces_are_the_albef_computations) {
    ModelConfig c;
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT(tok && eval_world_config(&c, tokenizer_vocab_size(tok)) == 0);
    tokenizer_free(tok);
    World w;
    ASSERT_MSG(world_open(&w, &c) == 0, "%s", error_message());
    Task *t = &w.task;
    ASSERT_EQ_INT(t->kind, TASK_RETRIEVAL);
    ASSERT_EQ_INT(t->n_items[TASK_SPLIT_TRAIN], w.train.split.n_texts);
    ASSERT_EQ_INT(t->n_items[TASK_SPLIT_VAL], 0);
    TaskModel m;
    ASSERT(t->model_init(t, &m, 9) == 0);
    Albef *a = task_albef(&m);
    t->model_set_mode(t, &m, 0, 0);
    int prev = autograd_set_enabled(0);
    int64_t items[4] = {0, 6, 17, 33}, ids[4];
    TaskBatch tb;
    AlbefBatch ab;
    ASSERT(t->batch_make(t, items, 4, 0, 1, 0, &tb) == 0);
    ASSERT(retrieval_batch_make(&w.train, items, 4, IMAGE_AUG_NONE, 1, 0, ids, &ab) == 0);
    for (int k = 0; k < 4; k++) {
        ASSERT_EQ_INT(tb.groups[k], w.train.split.txt2img[items[k]]);
        ASSERT_EQ_INT(t->item_group(t, items[k]), w.train.split.txt2img[items[k]]);
    }
    ASSERT(same_tensor(tb.image, ab.images));
    /* sides and fused: ALBEF's embeddings and fused [CLS]; L_UKR keeps the ITC features */
    TaskSides s = t->sides(t, &m, &tb);
    AlbefImageEmbed img = albef_embed_image(a, ab.images);
    AlbefTextEmbed txt = albef_embed_text(a, ab.text_ids, ab.text_mask);
    ASSERT(same_tensor(s.image_feat, img.feat) && same_tensor(s.text_feat, txt.feat));
    ASSERT(s.n_retain == 2 && s.retain[0] == s.image_feat && s.retain[1] == s.text_feat);
    ASSERT(same_tensor(t->fused(t, &m, &tb, &s), albef_fused_cls(a, &txt, img.tokens)));
    /* L_MD: outputs S' = V Tᵀ (and its transpose), targets S0 with the texts re-paired by π */
    int32_t perm[4] = {2, 0, 3, 1};
    Tensor *out[TASK_MAX_MD_TERMS], *tgt[TASK_MAX_MD_TERMS];
    ASSERT_EQ_INT(t->md_outputs(t, &m, &tb, &s, out), 2);
    ASSERT_EQ_INT(t->md_targets(t, &m, &tb, &s, perm, tgt), 2);
    const float *v = tensor_f32(s.image_feat), *tx = tensor_f32(s.text_feat), *so = tensor_f32(out[0]),
                *st = tensor_f32(tgt[0]), *sot = tensor_f32(out[1]);
    int64_t E = s.image_feat->shape[1];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double dot = 0, dot_perm = 0;
            for (int64_t e = 0; e < E; e++) {
                dot += (double)v[i * E + e] * tx[j * E + e];
                dot_perm += (double)v[i * E + e] * tx[perm[j] * E + e];
            }
            ASSERT_NEAR(so[i * 4 + j], dot, 1e-5);
            ASSERT_NEAR(sot[j * 4 + i], dot, 1e-5);
            ASSERT_NEAR(st[i * 4 + j], dot_perm, 1e-5);
        }
    autograd_set_enabled(prev);
    autograd_step_end();
    /* item_probs: the ITM softmax of the pair, as eval's pair_itm_probs */
    float p_task[8], p_albef[8];
    int64_t test_items[4] = {0, 6, 17, 29}; /* the test split has 30 pairs */
    ASSERT(t->item_probs(t, &m, TASK_SPLIT_TEST, test_items, 4, 3, p_task) == 0);
    ASSERT(pair_itm_probs(a, &w.test, test_items, 4, 3, p_albef) == 0);
    ASSERT(memcmp(p_task, p_albef, sizeof p_task) == 0);
    ASSERT(t->item_probs(t, &m, TASK_SPLIT_VAL, items, 4, 3, p_task) < 0); /* no validation split given */
    ASSERT(strstr(error_message(), "validation") != NULL);
    /* chance: uniform ITC over B + Q candidates and a 2-way ITM */
    ASSERT_NEAR(t->chance_loss(t, &m, 8), log(8.0 + (double)c.queue_size) + log(2.0), 1e-12);
    t->model_free(t, &m);
    world_close(&w);
}

TEST(test_task_loss_equals_albef_loss_and_loader_equals_batch_make) {
    ModelConfig c;
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT(tok && eval_world_config(&c, tokenizer_vocab_size(tok)) == 0);
    tokenizer_free(tok);
    World w;
    ASSERT_MSG(world_open(&w, &c) == 0, "%s", error_message());
    Task *t = &w.task;
    int64_t items[10] = {0, 5, 10, 15, 20, 25, 30, 35, 40, 45}, ids[5];
    TaskLoader *l = t->loader_start(t, items, 2, 5, 0, 3, 0);
    ASSERT(l != NULL);
    Albef a, b;
    ASSERT(eval_world_model(&a, w.tok, 2) == 0 && eval_world_model(&b, w.tok, 2) == 0);
    TaskModel ta = task_retrieval_wrap(&a);
    for (int k = 0; k < 2; k++) {
        TaskBatch tb;
        AlbefBatch ab;
        ASSERT_EQ_INT(t->loader_next(l, &tb), 1);
        ASSERT(tb.n == 5 && tb.items == items + 5 * k);
        ASSERT(retrieval_batch_make(&w.train, items + 5 * k, 5, IMAGE_AUG_NONE, 3, 0, ids, &ab) == 0);
        ASSERT(same_tensor(tb.image, ab.images));
        ASSERT(memcmp(tb.groups, ids, sizeof ids) == 0);
        TaskLossOptions o = {.epoch = 0, .step_in_epoch = k, .steps_per_epoch = 2, .sample_seed = 4,
                             .sample_stream = (uint64_t)k, .want_accuracy = 1};
        TaskLossOutput out;
        Tensor *lt = t->loss(t, &ta, &tb, &o, &out);
        AlbefLossOptions lo = {.alpha = model_config_alpha_at(&c, 0, k, 2), .sample_seed = 4,
                               .sample_stream = (uint64_t)k};
        AlbefLossOutput ao;
        Tensor *la = albef_retrieval_loss(&b, &ab, &lo, &ao);
        ASSERT(lt && la && tensor_f32(lt)[0] == tensor_f32(la)[0]);
        int match = 0;
        for (int i = 0; i < 5; i++) match += tensor_f32(ao.itm_logits)[2 * i + 1] > tensor_f32(ao.itm_logits)[2 * i];
        ASSERT_NEAR(out.accuracy, match / 5.0, 1e-12);
        autograd_step_end();
    }
    TaskBatch end;
    ASSERT_EQ_INT(t->loader_next(l, &end), 0);
    t->loader_stop(l);
    albef_free(&a);
    albef_free(&b);
    world_close(&w);
}

TEST(test_task_names_built_and_unknown) {
    ASSERT(task_check_name("flickr30k") == 0);
    ASSERT(task_check_name("snli_ve") == 0);
    ASSERT(task_check_name("nlvr2") == 0);
    ASSERT(task_check_name("pgr") == 0);
    ASSERT(task_check_name("retrieval") < 0);
    ASSERT_MSG(strstr(error_message(), "unknown task") && strstr(error_message(), "flickr30k|snli_ve|nlvr2|pgr"),
               "%s", error_message());
    ASSERT(strcmp(task_names(), "flickr30k|snli_ve|nlvr2|pgr") == 0);
}
