#include "models/task_retrieval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/xalloc.h"
#include "models/pair_outputs.h"
#include "models/retrieval_batch.h"

struct TaskLoader {
    RetrievalLoader rl;
    const int64_t *items;
    int batch;
    int64_t next;
};

static const RetrievalSet *set_of(const Task *t, TaskSplit s) { return t->data[s]; }

const RetrievalSet *task_retrieval_train(const Task *t) { return set_of(t, TASK_SPLIT_TRAIN); }

Albef *task_albef(const TaskModel *m) { return m->net; }

TaskModel task_retrieval_wrap(Albef *m) {
    return (TaskModel){.net = m, .params = &m->params, .momentum = &m->momentum, .owned = 0};
}

static AlbefBatch albef_batch(const TaskBatch *b) {
    return (AlbefBatch){.images = b->image, .text_ids = b->text_ids, .text_mask = b->text_mask,
                        .image_ids = b->groups};
}

static TaskBatch task_batch(const AlbefBatch *a, const int64_t *items, int n) {
    return (TaskBatch){.n = n, .items = items, .image = a->images, .text_ids = a->text_ids,
                       .text_mask = a->text_mask, .groups = a->image_ids, .labels = NULL};
}

TaskBatch task_retrieval_batch(const AlbefBatch *a) { return task_batch(a, NULL, (int)a->images->shape[0]); }

static ImageAugment augment_of(int augment) { return augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE; }

static int64_t item_group(const Task *t, int64_t item) { return task_retrieval_train(t)->split.txt2img[item]; }

static int batch_make(const Task *t, const int64_t *items, int n, int augment, uint64_t seed, uint64_t epoch,
                      TaskBatch *out) {
    /* The group ids live as long as the batch's tensors: in the activation arena. */
    int64_t *groups = arena_alloc(arena_activations(), (size_t)n * sizeof *groups);
    AlbefBatch a;
    if (retrieval_batch_make(task_retrieval_train(t), items, n, augment_of(augment), seed, epoch, groups, &a) < 0)
        return -1;
    *out = task_batch(&a, items, n);
    return 0;
}

static TaskLoader *loader_start(const Task *t, const int64_t *items, int64_t n_batches, int batch, int augment,
                                uint64_t seed, uint64_t epoch) {
    TaskLoader *l = xcalloc(1, sizeof *l);
    l->items = items;
    l->batch = batch;
    if (retrieval_loader_start(&l->rl, task_retrieval_train(t), items, n_batches, batch, augment_of(augment), seed,
                               epoch) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static int loader_next(TaskLoader *l, TaskBatch *out) {
    AlbefBatch a;
    int rc = retrieval_loader_next(&l->rl, &a);
    if (rc != 1) return rc;
    *out = task_batch(&a, l->items + l->next * l->batch, l->batch);
    l->next++;
    return 1;
}

static void loader_stop(TaskLoader *l) {
    if (!l) return;
    retrieval_loader_stop(&l->rl);
    free(l);
}

static int model_init(const Task *t, TaskModel *m, uint64_t seed) {
    Albef *a = xcalloc(1, sizeof *a);
    albef_init(a, t->cfg, seed);
    *m = task_retrieval_wrap(a);
    m->owned = 1;
    return 0;
}

static void model_free(const Task *t, TaskModel *m) {
    (void)t;
    if (m->owned) {
        albef_free(m->net);
        free(m->net);
    }
    memset(m, 0, sizeof *m);
}

static int model_load(const Task *t, TaskModel *m, const char *path) {
    (void)t;
    return albef_load(task_albef(m), path);
}

/* A converted pretrained ALBEF is a retrieval model's checkpoint (the same heads and names, §8.2). */
static int model_init_from(const Task *t, TaskModel *m, const char *path) {
    (void)t;
    return albef_load(task_albef(m), path);
}

static int model_save(const Task *t, const TaskModel *m, const char *path) {
    (void)t;
    return albef_save(task_albef(m), path);
}

static void model_to_device(const Task *t, TaskModel *m, Device device) {
    (void)t;
    albef_to_device(task_albef(m), device);
}

static void model_set_mode(const Task *t, TaskModel *m, int training, uint64_t seed) {
    (void)t;
    albef_set_mode(task_albef(m), training, seed);
}

static int model_set_fusion_only(const Task *t, TaskModel *m) {
    (void)t;
    return albef_set_fusion_only(task_albef(m));
}

static void model_reset_momentum(const Task *t, TaskModel *m) {
    (void)t;
    Albef *a = task_albef(m);
    /* The twins are the first modules of the parameter layout (albef_init declares them in the same order). */
    if (a->cfg.momentum_distill) params_copy_to_twins(&a->momentum, &a->params);
}

static void set_image_token_mask(const Task *t, TaskModel *m, Tensor *mask) {
    (void)t;
    task_albef(m)->image_token_mask = mask;
}

static Tensor *image_channel_weight(const Task *t, TaskModel *m) {
    (void)t;
    return task_albef(m)->online.vision_proj.weight;
}

/* The ITC projections, the ITM head and the temperature. */
static const char *const HEADS[] = {"vision_proj.", "text_proj.", "itm_head.", "temp", NULL};

/* Fraction of the positive pairs (the first n rows of the [3n, 2] ITM logits)
 * whose "match" logit exceeds the other. */
static double itm_match_rate(const Tensor *itm_logits, int n) {
    if (itm_logits->device != DEVICE_CPU) itm_logits = tensor_to_device(itm_logits, DEVICE_CPU);
    const float *l = tensor_f32(itm_logits);
    int match = 0;
    for (int b = 0; b < n; b++) match += l[2 * b + 1] > l[2 * b];
    return (double)match / (double)n;
}

static Tensor *loss(const Task *t, TaskModel *m, const TaskBatch *b, const TaskLossOptions *o, TaskLossOutput *out) {
    (void)t;
    Albef *a = task_albef(m);
    AlbefBatch ab = albef_batch(b);
    AlbefLossOptions lo = {
        .alpha = model_config_alpha_at(&a->cfg, o->epoch, o->step_in_epoch, o->steps_per_epoch),
        .sample_seed = o->sample_seed,
        .sample_stream = o->sample_stream,
    };
    AlbefLossOutput ao;
    Tensor *l = albef_retrieval_loss(a, &ab, &lo, &ao);
    out->loss = l;
    out->accuracy = l && o->want_accuracy ? itm_match_rate(ao.itm_logits, b->n) : 0.0;
    return l;
}

/* Uniform predictions: ITC over the B + Q candidates of each direction gives
 * ln(B + Q) (the two directions are averaged), the 2-way ITM ln 2. */
static double chance_loss(const Task *t, const TaskModel *m, int batch) {
    (void)t;
    return log((double)batch + (double)task_albef(m)->cfg.queue_size) + log(2.0);
}

static TaskSides sides(const Task *t, TaskModel *m, const TaskBatch *b) {
    (void)t;
    Albef *a = task_albef(m);
    AlbefImageEmbed img = albef_embed_image(a, b->image);
    AlbefTextEmbed txt = albef_embed_text(a, b->text_ids, b->text_mask);
    /* L_UKR keeps the normalised ITC features (spec/unlearning_methods.md §5.2, the intended code). */
    return (TaskSides){.image_tokens = img.tokens, .image_feat = img.feat, .text_tokens = txt.tokens,
                       .text_feat = txt.feat, .text_mask = txt.mask, .retain = {img.feat, txt.feat}, .n_retain = 2};
}

static Tensor *fused(const Task *t, TaskModel *m, const TaskBatch *b, const TaskSides *s) {
    (void)t, (void)b;
    AlbefTextEmbed txt = {.tokens = s->text_tokens, .feat = s->text_feat, .mask = s->text_mask};
    return albef_fused_cls(task_albef(m), &txt, s->image_tokens);
}

/* Data parallel (core/comm.h): L_MD's b x b matrices couple every pair of
 * the Df batch, so with several ranks both are built on the global Df batch
 * from every rank's gathered ITC features, as ALBEF's distributed code
 * gathers features for its batch-level terms; every rank then holds the
 * whole term (perm is over the global batch). The gather of θ's features
 * carries gradients (op_all_gather), so the ranks' averaged gradients are the
 * global term's. One rank: the batch's own features. */

/* S0[i, j] = cos(v0_i, t0_π(j)) and its transpose: θ0's similarity structure on
 * Df re-paired by π (the permutation only re-pairs, §5.2). */
static int md_targets(const Task *t, TaskModel *original, const TaskBatch *df, const TaskSides *s0,
                      const int32_t *perm, Tensor **out) {
    (void)t, (void)original;
    const int64_t n = (int64_t)df->n * comm_size();
    Tensor *image = op_all_gather(s0->image_feat), *text = op_all_gather(s0->text_feat);
    Tensor *p = tensor_new(DTYPE_I32, SHAPE(n));
    memcpy(tensor_i32(p), perm, (size_t)n * sizeof(int32_t));
    Tensor *t0_perm = op_index_select(text, 0, p);
    out[0] = op_matmul(image, t0_perm, 0, 1);
    out[1] = op_matmul(t0_perm, image, 0, 1);
    return 2;
}

/* S'[i, j] = cos(v'_i, t'_j) (raw cosine, no temperature) in both orientations,
 * as the released code; they are equal, so L_MD is 2·MSE(S0, S'). */
static int md_outputs(const Task *t, TaskModel *m, const TaskBatch *df, const TaskSides *s, Tensor **out) {
    (void)t, (void)m, (void)df;
    Tensor *image = op_all_gather(s->image_feat), *text = op_all_gather(s->text_feat);
    out[0] = op_matmul(image, text, 0, 1);
    out[1] = op_matmul(text, image, 0, 1);
    return 2;
}

static int item_probs(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                      float *out) {
    const RetrievalSet *s = set_of(t, split);
    static const char *const names[] = {"training", "test", "validation"};
    if (!s || (n > 0 && s->split.n_texts == 0)) return error_set("retrieval: the %s split is absent", names[split]);
    return pair_itm_probs(task_albef(m), s, items, n, batch, out);
}

/* The ITM logits of (text b, image perm[b]) pairs; perm NULL = the positives. */
static Tensor *itm_logits(Albef *a, const TaskBatch *b, const int32_t *perm) {
    AlbefImageEmbed img = albef_embed_image(a, b->image);
    AlbefTextEmbed txt = albef_embed_text(a, b->text_ids, b->text_mask);
    Tensor *tokens = img.tokens;
    if (perm) {
        Tensor *idx = tensor_new(DTYPE_I32, SHAPE(b->n));
        memcpy(tensor_i32(idx), perm, (size_t)b->n * sizeof(int32_t));
        tokens = op_index_select(tokens, 0, idx);
    }
    return albef_itm_logits(a, albef_fused_cls(a, &txt, tokens));
}

static Tensor *item_loss(const Task *t, TaskModel *m, const TaskBatch *b) {
    (void)t;
    Tensor *target = tensor_new(DTYPE_I32, SHAPE(b->n));
    for (int k = 0; k < b->n; k++) tensor_i32(target)[k] = 1;
    Tensor *logits = itm_logits(task_albef(m), b, NULL);
    return op_cross_entropy(logits, target);
}

static double item_accuracy(const Task *t, TaskModel *m, const TaskBatch *b) {
    (void)t;
    int prev = autograd_set_enabled(0), n = b->n;
    int32_t *perm = xmalloc((size_t)n * sizeof *perm);
    for (int k = 0; k < n; k++) perm[k] = (k + 1) % n;
    float *pos = xmalloc((size_t)n * 2 * sizeof *pos), *neg = xmalloc((size_t)n * 2 * sizeof *neg);
    tensor_copy_to_host(itm_logits(task_albef(m), b, NULL), pos);
    tensor_copy_to_host(itm_logits(task_albef(m), b, perm), neg);
    int right = 0, total = 0;
    for (int k = 0; k < n; k++) {
        right += pos[2 * k + 1] > pos[2 * k], total++;
        if (b->groups[perm[k]] != b->groups[k]) right += neg[2 * k] >= neg[2 * k + 1], total++;
    }
    free(perm), free(pos), free(neg);
    autograd_set_enabled(prev);
    return (double)right / total;
}

static int split_batch_make(const Task *t, TaskSplit split, const int64_t *items, int n, TaskBatch *out) {
    static const char *const names[] = {"training", "test", "validation"};
    const RetrievalSet *s = set_of(t, split);
    if (!s || (n > 0 && s->split.n_texts == 0)) return error_set("retrieval: the %s split is absent", names[split]);
    int64_t *groups = arena_alloc(arena_activations(), (size_t)(n > 0 ? n : 1) * sizeof *groups);
    AlbefBatch a;
    if (retrieval_batch_make(s, items, n, IMAGE_AUG_NONE, 0, 0, groups, &a) < 0) return -1;
    *out = task_batch(&a, items, n);
    return 0;
}

/* As ALBEF pre-training's MLM: the text layers, then fusion with the pair's image. */
static Tensor *text_states(const Task *t, TaskModel *m, const TaskBatch *b) {
    (void)t;
    Albef *a = task_albef(m);
    AlbefImageEmbed img = albef_embed_image(a, b->image);
    AlbefTextEmbed txt = albef_embed_text(a, b->text_ids, b->text_mask);
    return bert_fusion_forward(&a->online.text, txt.tokens, txt.mask, img.tokens, &a->dropout);
}

static Tensor *word_embeddings(const Task *t, TaskModel *m) {
    (void)t;
    return task_albef(m)->online.text.word.weight;
}

/* The BERT of text and fusion layers; the ITC projections and the ITM head stay as they are. */
static const char *const TEXT_SIDE[] = {"text_encoder.", NULL};

static void task_free(Task *t) { memset(t, 0, sizeof *t); }

void task_retrieval_init(Task *t, const ModelConfig *cfg, const RetrievalSet *train, const RetrievalSet *test,
                         const RetrievalSet *val) {
    *t = (Task){
        .name = "flickr30k",
        .kind = TASK_RETRIEVAL,
        .n_classes = 2,
        .cfg = cfg,
        .n_items = {train ? train->split.n_texts : 0, test ? test->split.n_texts : 0, val ? val->split.n_texts : 0},
        .data = {train, test, val},
        .item_group = item_group,
        .batch_make = batch_make,
        .loader_start = loader_start,
        .loader_next = loader_next,
        .loader_stop = loader_stop,
        .model_init = model_init,
        .model_free = model_free,
        .model_load = model_load,
        .model_save = model_save,
        .model_init_from = model_init_from,
        .model_to_device = model_to_device,
        .model_set_mode = model_set_mode,
        .model_set_fusion_only = model_set_fusion_only,
        .model_reset_momentum = model_reset_momentum,
        .set_image_token_mask = set_image_token_mask,
        .image_channel_weight = image_channel_weight,
        .head_prefixes = HEADS,
        .image_tokens = model_config_image_tokens(cfg),
        .loss = loss,
        .chance_loss = chance_loss,
        .sides = sides,
        .fused = fused,
        .md_targets = md_targets,
        .md_outputs = md_outputs,
        .item_probs = item_probs,
        .item_loss = item_loss,
        .item_accuracy = item_accuracy,
        .split_batch_make = split_batch_make,
        .text_states = text_states,
        .word_embeddings = word_embeddings,
        .text_prefixes = TEXT_SIDE,
        .free = task_free,
    };
}
