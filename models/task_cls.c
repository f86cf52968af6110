#include "models/task_cls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "core/xalloc.h"
#include "models/cls_batch.h"

typedef struct {
    AlbefClsTask which;
    const Tokenizer *tok;
    int ukr_text;
    int64_t *groups; /* [n train items] the deletion unit of each item */
} ClsTaskState;

struct TaskLoader {
    const Task *t;
    const int64_t *items;
    int64_t n_batches, next;
    int batch, augment;
    uint64_t seed, epoch;
};

static const ClsSet *set_of(const Task *t, TaskSplit s) { return t->data[s]; }
static const ClsTaskState *state_of(const Task *t) { return t->state; }

AlbefCls *task_albef_cls(const TaskModel *m) { return m->net; }

TaskModel task_cls_wrap(AlbefCls *m) {
    return (TaskModel){.net = m, .params = &m->params, .momentum = m->cfg.momentum_distill ? &m->momentum : NULL,
                       .owned = 0};
}

TaskBatch task_cls_batch(const AlbefClsBatch *b, Tensor *both) {
    return (TaskBatch){.n = (int)b->text_ids->shape[0], .items = NULL, .image = both ? both : b->image0,
                       .text_ids = b->text_ids, .text_mask = b->text_mask, .groups = NULL,
                       .labels = b->labels ? tensor_i32(b->labels) : NULL};
}

/* The model's view of a task batch: NLVR2's two images are the halves of the image side. */
static AlbefClsBatch cls_batch(const Task *t, const TaskBatch *b) {
    AlbefClsBatch a = {.image0 = b->image, .text_ids = b->text_ids, .text_mask = b->text_mask};
    if (state_of(t)->which == ALBEF_TASK_NLVR2) {
        a.image0 = tensor_view_rows(b->image, 0, b->n);
        a.image1 = tensor_view_rows(b->image, b->n, b->n);
    }
    if (b->labels) a.labels = tensor_wrap(DTYPE_I32, SHAPE(b->n), (void *)b->labels);
    return a;
}

static int64_t item_group(const Task *t, int64_t item) { return state_of(t)->groups[item]; }

static int batch_make(const Task *t, const int64_t *items, int n, int augment, uint64_t seed, uint64_t epoch,
                      TaskBatch *out) {
    AlbefClsBatch a;
    Tensor *both;
    if (cls_batch_make(set_of(t, TASK_SPLIT_TRAIN), state_of(t)->tok, items, n,
                       augment ? IMAGE_AUG_LAVIS : IMAGE_AUG_NONE, augment, seed, epoch, &a, &both) < 0)
        return -1;
    *out = task_cls_batch(&a, both);
    out->items = items;
    /* The group ids live as long as the batch's tensors: in the activation arena. */
    int64_t *groups = arena_alloc(arena_activations(), (size_t)n * sizeof *groups);
    for (int i = 0; i < n; i++) groups[i] = item_group(t, items[i]);
    out->groups = groups;
    return 0;
}

/* Batches are built on the calling thread: a pure function of the same
 * arguments as batch_make, so a prefetching loader could replace it. */
static TaskLoader *loader_start(const Task *t, const int64_t *items, int64_t n_batches, int batch, int augment,
                                uint64_t seed, uint64_t epoch) {
    TaskLoader *l = xcalloc(1, sizeof *l);
    *l = (TaskLoader){.t = t, .items = items, .n_batches = n_batches, .batch = batch, .augment = augment,
                      .seed = seed, .epoch = epoch};
    return l;
}

static int loader_next(TaskLoader *l, TaskBatch *out) {
    if (l->next >= l->n_batches) return 0;
    const int64_t *items = l->items + l->next * l->batch;
    l->next++;
    return batch_make(l->t, items, l->batch, l->augment, l->seed, l->epoch, out) < 0 ? -1 : 1;
}

static void loader_stop(TaskLoader *l) { free(l); }

static int model_init(const Task *t, TaskModel *m, uint64_t seed) {
    AlbefCls *a = xcalloc(1, sizeof *a);
    albef_cls_init(a, t->cfg, state_of(t)->which, seed);
    *m = task_cls_wrap(a);
    m->owned = 1;
    return 0;
}

static void model_free(const Task *t, TaskModel *m) {
    (void)t;
    if (m->owned) {
        albef_cls_free(m->net);
        free(m->net);
    }
    memset(m, 0, sizeof *m);
}

static int model_load(const Task *t, TaskModel *m, const char *path) {
    (void)t;
    return albef_cls_load(task_albef_cls(m), path);
}

/* A checkpoint with a cls_head is one of this task's and loads as such; a
 * file without one (a pretrained or retrieval ALBEF) gives the encoders
 * (spec/albef_blip.md §5.1: VE and NLVR2 start from ALBEF.pth /
 * pretrain_model_nlvr.pth). */
static int model_init_from(const Task *t, TaskModel *m, const char *path) {
    (void)t;
    SafetensorsFile f;
    if (safetensors_open(&f, path)) return -1;
    int own = safetensors_find(&f, "cls_head.0.weight") != NULL;
    safetensors_close(&f);
    return own ? albef_cls_load(task_albef_cls(m), path) : albef_cls_init_from_albef(task_albef_cls(m), path);
}

static int model_save(const Task *t, const TaskModel *m, const char *path) {
    (void)t;
    return albef_cls_save(task_albef_cls(m), path);
}

static void model_to_device(const Task *t, TaskModel *m, Device device) {
    (void)t;
    albef_cls_to_device(task_albef_cls(m), device);
}

static void model_set_mode(const Task *t, TaskModel *m, int training, uint64_t seed) {
    (void)t;
    albef_cls_set_mode(task_albef_cls(m), training, seed);
}

static int model_set_fusion_only(const Task *t, TaskModel *m) {
    (void)t;
    return albef_cls_set_fusion_only(task_albef_cls(m));
}

static void model_reset_momentum(const Task *t, TaskModel *m) {
    (void)t;
    AlbefCls *a = task_albef_cls(m);
    /* Every online module has its twin, declared in the same order (albef_cls_init). */
    if (a->cfg.momentum_distill) params_copy_to_twins(&a->momentum, &a->params);
}

static void set_image_token_mask(const Task *t, TaskModel *m, Tensor *mask) {
    /* NLVR2: both images of an item take the item's mask (the image side is image 0's rows, then image 1's) */
    if (mask && mask->ndim == 3 && state_of(t)->which == ALBEF_TASK_NLVR2) {
        Tensor *both[2] = {mask, mask};
        mask = op_concat(both, 2, 0);
    }
    task_albef_cls(m)->image_token_mask = mask;
}

/* The first Linear that reads the image token channels: the first fusion
 * layer's cross-attention key (shared with its pair partner in NLVR2). */
static Tensor *image_channel_weight(const Task *t, TaskModel *m) {
    (void)t;
    AlbefCls *a = task_albef_cls(m);
    return a->online.text.layers[a->cfg.fusion_layer].cross_attn.key.weight;
}

static const char *const HEADS[] = {"cls_head.", NULL};

static double argmax_rate(const Tensor *logits, const int32_t *labels, int n, int C) {
    if (logits->device != DEVICE_CPU) logits = tensor_to_device(logits, DEVICE_CPU);
    const float *l = tensor_f32(logits);
    int right = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < C; c++)
            if (l[i * C + c] > l[i * C + best]) best = c;
        right += best == labels[i];
    }
    return (double)right / (double)n;
}

static Tensor *loss(const Task *t, TaskModel *m, const TaskBatch *b, const TaskLossOptions *o, TaskLossOutput *out) {
    AlbefCls *a = task_albef_cls(m);
    CHECK(b->labels != NULL, "%s: the loss needs the batch's labels", t->name);
    AlbefClsBatch ab = cls_batch(t, b);
    float alpha = model_config_alpha_at(&a->cfg, o->epoch, o->step_in_epoch, o->steps_per_epoch);
    AlbefClsLossOutput lo;
    out->loss = albef_cls_loss(a, &ab, alpha, &lo);
    out->accuracy = o->want_accuracy ? argmax_rate(lo.logits, b->labels, b->n, a->n_classes) : 0.0;
    return out->loss;
}

/* Uniform predictions: CE = ln C (and the distillation term the same). */
static double chance_loss(const Task *t, const TaskModel *m, int batch) {
    (void)t, (void)batch;
    return log((double)task_albef_cls(m)->n_classes);
}

static Tensor *first_token(Tensor *x) {
    return op_reshape(op_slice(x, 1, 0, 1), SHAPE(x->shape[0], x->shape[2]));
}

static TaskSides sides(const Task *t, TaskModel *m, const TaskBatch *b) {
    AlbefCls *a = task_albef_cls(m);
    TaskSides s = {0};
    s.image_tokens = albef_cls_image_tokens(a, b->image); /* NLVR2: image 0's rows, then image 1's (§5.2) */
    s.text_tokens = albef_cls_text_tokens(a, b->text_ids, b->text_mask, &s.text_mask);
    s.image_feat = first_token(s.image_tokens);
    s.text_feat = first_token(s.text_tokens);
    /* L_UKR keeps the full ViT token sequences; with ukr_text also the text-mode [CLS] (§5.2). */
    s.retain[s.n_retain++] = s.image_tokens;
    if (state_of(t)->ukr_text) s.retain[s.n_retain++] = s.text_feat;
    return s;
}

/* z over text states [n, L, D] and the sides' image tokens. */
static Tensor *fuse_with(const Task *t, AlbefCls *a, Tensor *text, Tensor *mask, const TaskSides *s, int n) {
    if (state_of(t)->which == ALBEF_TASK_NLVR2)
        return albef_cls_fuse(a, text, mask, op_slice(s->image_tokens, 0, 0, n), op_slice(s->image_tokens, 0, n, n),
                              NULL);
    return albef_cls_fuse(a, text, mask, s->image_tokens, NULL, NULL);
}

static Tensor *fused(const Task *t, TaskModel *m, const TaskBatch *b, const TaskSides *s) {
    return fuse_with(t, task_albef_cls(m), s->text_tokens, s->text_mask, s, b->n);
}

/* θ0's fused [CLS] with item i's sentence replaced by item perm[i]'s: the
 * text-mode states are per sentence, so permuting their rows (and the mask's)
 * is θ0's text encoder on the permuted sentences; the images stay (§5.2). */
static int md_targets(const Task *t, TaskModel *original, const TaskBatch *df, const TaskSides *s0,
                      const int32_t *perm, Tensor **out) {
    Tensor *p = tensor_new(DTYPE_I32, SHAPE(df->n));
    for (int i = 0; i < df->n; i++) {
        CHECK(perm[i] >= 0 && perm[i] < df->n, "%s: permutation entry %d outside the batch", t->name, perm[i]);
        tensor_i32(p)[i] = perm[i];
    }
    Tensor *text = op_index_select(s0->text_tokens, 0, p), *mask = op_index_select(s0->text_mask, 0, p);
    out[0] = fuse_with(t, task_albef_cls(original), text, mask, s0, df->n);
    return 1;
}

static int md_outputs(const Task *t, TaskModel *m, const TaskBatch *df, const TaskSides *s, Tensor **out) {
    out[0] = fused(t, m, df, s);
    return 1;
}

static int item_probs(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                      float *out) {
    static const char *const names[] = {"training", "test", "validation"};
    const ClsSet *s = set_of(t, split);
    if (!s || (n > 0 && s->n == 0)) return error_set("%s: the %s split is absent", t->name, names[split]);
    CHECK(batch > 0, "item_probs: batch must be > 0");
    AlbefCls *a = task_albef_cls(m);
    DropoutState mode = a->dropout;
    albef_cls_set_mode(a, 0, 0);
    int prev = autograd_set_enabled(0), rc = 0;
    const int C = a->n_classes;
    for (int64_t at = 0; at < n && rc == 0; at += batch) {
        int k = (int)(n - at < batch ? n - at : batch);
        AlbefClsBatch b;
        rc = cls_batch_make(s, state_of(t)->tok, items + at, k, IMAGE_AUG_NONE, 0, 0, 0, &b, NULL);
        if (rc == 0) {
            Tensor *logits = albef_cls_forward(a, &b).logits;
            if (logits->device != DEVICE_CPU) logits = tensor_to_device(logits, DEVICE_CPU);
            const float *l = tensor_f32(logits);
            for (int i = 0; i < k; i++) { /* softmax in double */
                double mx = l[i * C], sum = 0.0;
                for (int c = 1; c < C; c++) mx = l[i * C + c] > mx ? l[i * C + c] : mx;
                for (int c = 0; c < C; c++) sum += exp((double)l[i * C + c] - mx);
                for (int c = 0; c < C; c++) out[(at + i) * C + c] = (float)(exp((double)l[i * C + c] - mx) / sum);
            }
        }
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    a->dropout = mode;
    return rc;
}

static int32_t item_label(const Task *t, TaskSplit split, int64_t item) {
    static const char *const names[] = {"training", "test", "validation"};
    const ClsSet *s = set_of(t, split);
    if (!s || item < 0 || item >= s->n)
        return error_set("%s: item %lld is not in the %s split (%lld items)", t->name, (long long)item, names[split],
                         (long long)(s ? s->n : 0));
    return s->labels[item];
}

static Tensor *class_logits(const Task *t, TaskModel *m, const TaskBatch *b) {
    CHECK(b->labels != NULL, "%s: the batch has no labels", t->name);
    AlbefClsBatch ab = cls_batch(t, b);
    return albef_cls_forward(task_albef_cls(m), &ab).logits;
}

static Tensor *item_loss(const Task *t, TaskModel *m, const TaskBatch *b) {
    Tensor *logits = class_logits(t, m, b);
    Tensor *labels = tensor_new(DTYPE_I32, SHAPE(b->n));
    memcpy(tensor_i32(labels), b->labels, (size_t)b->n * sizeof(int32_t));
    return op_cross_entropy(logits, labels);
}

static double item_accuracy(const Task *t, TaskModel *m, const TaskBatch *b) {
    int prev = autograd_set_enabled(0);
    double acc = argmax_rate(class_logits(t, m, b), b->labels, b->n, t->n_classes);
    autograd_set_enabled(prev);
    return acc;
}

static int split_batch_make(const Task *t, TaskSplit split, const int64_t *items, int n, TaskBatch *out) {
    static const char *const names[] = {"training", "test", "validation"};
    const ClsSet *s = set_of(t, split);
    if (!s || (n > 0 && s->n == 0)) return error_set("%s: the %s split is absent", t->name, names[split]);
    AlbefClsBatch a;
    Tensor *both;
    if (cls_batch_make(s, state_of(t)->tok, items, n, IMAGE_AUG_NONE, 0, 0, 0, &a, &both) < 0) return -1;
    *out = task_cls_batch(&a, both);
    out->items = items;
    return 0;
}

/* The text layers, then the fusion layers over the item's image(s): ALBEF's pre-training MLM states. */
static Tensor *text_states(const Task *t, TaskModel *m, const TaskBatch *b) {
    AlbefCls *a = task_albef_cls(m);
    TaskSides s = sides(t, m, b);
    if (state_of(t)->which == ALBEF_TASK_NLVR2)
        return bert_fusion_forward_pair(&a->online.text, s.text_tokens, s.text_mask,
                                        op_slice(s.image_tokens, 0, 0, b->n), op_slice(s.image_tokens, 0, b->n, b->n),
                                        &a->dropout);
    return bert_fusion_forward(&a->online.text, s.text_tokens, s.text_mask, s.image_tokens, &a->dropout);
}

static Tensor *word_embeddings(const Task *t, TaskModel *m) {
    (void)t;
    return task_albef_cls(m)->online.text.word.weight;
}

static const char *const TEXT_SIDE[] = {"text_encoder.", NULL};

static void task_free(Task *t) {
    ClsTaskState *st = t->state;
    if (st) free(st->groups);
    free(st);
    memset(t, 0, sizeof *t);
}

typedef struct {
    const char *key;
    int64_t item;
} KeyItem;

static int by_key_then_item(const void *a, const void *b) {
    const KeyItem *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->item > y->item) - (x->item < y->item);
}

/* Group of each item: the deletion unit its key names, numbered in order of
 * first appearance. */
static int64_t *groups_by_key(const ClsSet *s) {
    int64_t n = s->n;
    KeyItem *ki = xmalloc((size_t)(n ? n : 1) * sizeof *ki);
    int64_t *first = xmalloc((size_t)(n ? n : 1) * sizeof *first), *g = xmalloc((size_t)(n ? n : 1) * sizeof *g);
    for (int64_t i = 0; i < n; i++) ki[i] = (KeyItem){s->keys[i], i};
    qsort(ki, (size_t)n, sizeof *ki, by_key_then_item);
    for (int64_t k = 0; k < n; k++)
        first[ki[k].item] = (k > 0 && !strcmp(ki[k].key, ki[k - 1].key)) ? first[ki[k - 1].item] : ki[k].item;
    int64_t next = 0;
    for (int64_t i = 0; i < n; i++) g[i] = first[i] == i ? next++ : g[first[i]];
    free(ki);
    free(first);
    return g;
}

void task_cls_init(Task *t, AlbefClsTask which, const ModelConfig *cfg, const Tokenizer *tok, const ClsSet *train,
                   const ClsSet *test, const ClsSet *val, int ukr_text) {
    ClsTaskState *st = xcalloc(1, sizeof *st);
    *st = (ClsTaskState){.which = which, .tok = tok, .ukr_text = ukr_text, .groups = train ? groups_by_key(train) : NULL};
    *t = (Task){
        .name = albef_cls_task_name(which),
        .kind = TASK_CLASSIFICATION,
        .n_classes = albef_cls_task_classes(which),
        .cfg = cfg,
        .n_items = {train ? train->n : 0, test ? test->n : 0, val ? val->n : 0},
        .data = {train, test, val},
        .state = st,
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
        .item_label = item_label,
        .free = task_free,
    };
}
