#include "models/task_pgr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/params_io.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"
#include "core/xalloc.h"

/* The network behind a PGR TaskModel. */
typedef struct {
    PgrModel model;
    ParamSet params;
    DropoutState dropout; /* .training 0: eval mode */
    Tensor *graph_mask;   /* Erm-Ktp's channel mask on u_G ([2·gcn_hidden]), or NULL */
} PgrNet;

struct TaskLoader {
    const Task *task;
    const int64_t *items;
    int64_t n_batches, next;
    int batch;
};

static const PgrTaskData *data_of(const Task *t) { return t->state; }
static const PgrSamples *samples_of(const Task *t, TaskSplit s) { return t->data[s]; }
static PgrNet *net_of(const TaskModel *m) { return m->net; }

PgrModel *task_pgr_model(const TaskModel *m) { return &net_of(m)->model; }

/* A batch of samples of `split`, its arrays and tensors in the activation arena. */
static TaskBatch make_batch(const Task *t, TaskSplit split, const int64_t *items, int n, Device device) {
    const PgrCorpus *c = data_of(t)->corpus;
    PgrBatch *b = arena_alloc(arena_activations(), sizeof *b);
    pgr_batch_build(b, samples_of(t, split), items, n, c->opt.max_len, c->node_tokens, c->node_token_count,
                    c->opt.name_len);
    pgr_batch_move_to_arena(b);
    PgrInputs *in = arena_alloc(arena_activations(), sizeof *in);
    *in = pgr_inputs(b, device);
    /* The 0/1 mask stays on the host: the model reads its additive form (PgrInputs.mask_add). */
    Tensor *mask01 = tensor_wrap(DTYPE_I32, SHAPE(b->B, b->L), b->mask);
    return (TaskBatch){.n = n, .items = items, .graph = in, .text_ids = in->ids, .text_mask = mask01,
                       .groups = items, .labels = b->labels};
}

static const PgrInputs *inputs_of(const TaskBatch *b) { return b->graph; }

static int64_t item_group(const Task *t, int64_t item) {
    (void)t;
    return item; /* a row is its own unit of deletion (data/pgr_corpus.h) */
}

static int batch_make(const Task *t, const int64_t *items, int n, int augment, uint64_t seed, uint64_t epoch,
                      TaskBatch *out) {
    (void)augment, (void)seed, (void)epoch; /* nothing random: a batch is a function of its items */
    *out = make_batch(t, TASK_SPLIT_TRAIN, items, n, data_of(t)->device);
    return 0;
}

static TaskLoader *loader_start(const Task *t, const int64_t *items, int64_t n_batches, int batch, int augment,
                                uint64_t seed, uint64_t epoch) {
    (void)augment, (void)seed, (void)epoch;
    TaskLoader *l = xcalloc(1, sizeof *l);
    *l = (TaskLoader){.task = t, .items = items, .n_batches = n_batches, .batch = batch};
    return l;
}

static int loader_next(TaskLoader *l, TaskBatch *out) {
    if (l->next == l->n_batches) return 0;
    *out = make_batch(l->task, TASK_SPLIT_TRAIN, l->items + l->next * l->batch, l->batch, data_of(l->task)->device);
    l->next++;
    return 1;
}

static void loader_stop(TaskLoader *l) { free(l); }

static int model_init(const Task *t, TaskModel *m, uint64_t seed) {
    const PgrTaskData *d = data_of(t);
    PgrNet *n = xcalloc(1, sizeof *n);
    params_init(&n->params);
    pgr_model_declare(&n->model, &n->params, &d->cfg, d->corpus->graph.n_nodes);
    params_finalize(&n->params);
    params_initialize(&n->params, seed);
    if (d->text_init && pgr_model_load_text(&n->params, d->text_init, d->text_init_prefix) < 0) {
        pgr_model_free(&n->model);
        params_free(&n->params);
        free(n);
        return error_prefix("--text-init");
    }
    n->dropout = (DropoutState){.p = d->cfg.text_dropout, .training = 0, .seed = seed};
    *m = (TaskModel){.net = n, .params = &n->params, .momentum = NULL, .owned = 1};
    return 0;
}

static void model_free(const Task *t, TaskModel *m) {
    (void)t;
    if (m->owned && m->net) {
        PgrNet *n = net_of(m);
        pgr_model_free(&n->model);
        params_free(&n->params);
        free(n);
    }
    memset(m, 0, sizeof *m);
}

static int model_load(const Task *t, TaskModel *m, const char *path) {
    (void)t;
    return params_load(m->params, path, params_load_defaults(), NULL);
}

/* A PGR checkpoint (the text encoder alone starts from BERT through pgr_model_load_text). */
static int model_init_from(const Task *t, TaskModel *m, const char *path) { return model_load(t, m, path); }

static int model_save(const Task *t, const TaskModel *m, const char *path) {
    (void)t;
    return params_save(m->params, path, NULL, 0);
}

static void model_to_device(const Task *t, TaskModel *m, Device device) {
    (void)t;
    params_to_device(m->params, device);
}

static void model_set_mode(const Task *t, TaskModel *m, int training, uint64_t seed) {
    (void)t;
    DropoutState *d = &net_of(m)->dropout;
    d->training = training;
    d->seed = seed;
    d->stream = 0;
}

/* "-F" (spec/unlearning_methods.md §2.3): the fusion FFN and the classifier. */
static int model_set_fusion_only(const Task *t, TaskModel *m) {
    (void)t;
    params_set_trainable_all(m->params, 0);
    if (params_set_trainable_prefixes(m->params, PGR_FUSION_PREFIXES, 1) == 0)
        return error_set("pgr: no fusion or classifier parameters to train");
    return 0;
}

static void model_reset_momentum(const Task *t, TaskModel *m) { (void)t, (void)m; }

static void set_image_token_mask(const Task *t, TaskModel *m, Tensor *mask) {
    (void)t;
    net_of(m)->graph_mask = mask;
}

/* The first layer reading u_G's channels: the classifier's graph columns (a head, as ALBEF's vision_proj). */
static Tensor *image_channel_weight(const Task *t, TaskModel *m) {
    (void)t;
    return task_pgr_model(m)->cls1_graph.weight;
}

static const char *const HEADS[] = {"classifier.", NULL};

static DropoutState *dropout_of(TaskModel *m) {
    PgrNet *n = net_of(m);
    return n->dropout.training && n->dropout.p > 0 ? &n->dropout : NULL;
}

static TaskSides sides(const Task *t, TaskModel *m, const TaskBatch *b) {
    (void)t;
    const PgrModel *pm = task_pgr_model(m);
    Tensor *ug = pgr_model_graph(pm, inputs_of(b));
    Tensor *mask = net_of(m)->graph_mask; /* [C], or Erm-Ktp's [n, 1, C] per item */
    if (mask && mask->ndim == 3) mask = op_reshape(mask, 2, (const int64_t[]){mask->shape[0], mask->shape[2]});
    if (mask) ug = op_mul(ug, mask);
    Tensor *ut = pgr_model_text(pm, inputs_of(b), dropout_of(m));
    int64_t n = ug->shape[0];
    Tensor *both[2] = {ug, ut};
    /* L_UKR: MSE over [u_G; u_T] (spec §5.2 "Graph-text"). */
    return (TaskSides){.image_tokens = op_reshape(ug, 3, (const int64_t[]){n, 1, ug->shape[1]}), .image_feat = ug,
                       .text_tokens = NULL, .text_feat = ut, .text_mask = inputs_of(b)->mask_add,
                       .retain = {op_concat(both, 2, 1)}, .n_retain = 1};
}

/* Reads u_G from image_tokens, the view Erm-Ktp masks before calling it. */
static Tensor *fused(const Task *t, TaskModel *m, const TaskBatch *b, const TaskSides *s) {
    (void)t, (void)b;
    Tensor *ug = op_reshape(s->image_tokens, 2, (const int64_t[]){s->image_tokens->shape[0], s->image_tokens->shape[2]});
    return pgr_model_fuse(task_pgr_model(m), ug, s->text_feat);
}

static Tensor *logits_of(TaskModel *m, const TaskSides *s, Tensor *z) {
    return pgr_model_classify(task_pgr_model(m), s->image_feat, s->text_feat, z);
}

static Tensor *loss(const Task *t, TaskModel *m, const TaskBatch *b, const TaskLossOptions *o, TaskLossOutput *out) {
    TaskSides s = sides(t, m, b);
    Tensor *logits = logits_of(m, &s, fused(t, m, b, &s));
    out->loss = op_cross_entropy(logits, inputs_of(b)->labels);
    out->accuracy = 0.0;
    if (o->want_accuracy) {
        float *l = xmalloc((size_t)(2 * b->n) * sizeof *l);
        tensor_copy_to_host(logits, l);
        int right = 0;
        for (int k = 0; k < b->n; k++) right += (l[2 * k + 1] > l[2 * k]) == b->labels[k];
        free(l);
        out->accuracy = (double)right / (double)b->n;
    }
    return out->loss;
}

static double chance_loss(const Task *t, const TaskModel *m, int batch) {
    (void)t, (void)m, (void)batch;
    return log(2.0);
}

/* θ0's z on (G_i, T_π(i)): the branches are separate, so θ0's text
 * embeddings of the Df batch re-paired by π are the mismatched pairs' (§5.2). */
static int md_targets(const Task *t, TaskModel *original, const TaskBatch *df, const TaskSides *s0,
                      const int32_t *perm, Tensor **out) {
    (void)t;
    Tensor *p = tensor_new(DTYPE_I32, SHAPE(df->n));
    memcpy(tensor_i32(p), perm, (size_t)df->n * sizeof(int32_t));
    p = tensor_on(p, s0->text_feat->device);
    out[0] = pgr_model_fuse(task_pgr_model(original), s0->image_feat, op_index_select(s0->text_feat, 0, p));
    return 1;
}

static int md_outputs(const Task *t, TaskModel *m, const TaskBatch *df, const TaskSides *s, Tensor **out) {
    out[0] = fused(t, m, df, s);
    return 1;
}

static int item_probs(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                      float *out) {
    if (!samples_of(t, split) || (n > 0 && t->n_items[split] == 0)) return error_set("pgr: the split is absent");
    PgrNet *net = net_of(m);
    int was_training = net->dropout.training, prev = autograd_set_enabled(0);
    net->dropout.training = 0;
    for (int64_t start = 0; start < n; start += batch) {
        int k = (int)(n - start < batch ? n - start : batch);
        TaskBatch b = make_batch(t, split, items + start, k, m->params->device);
        TaskSides s = sides(t, m, &b);
        Tensor *probs = op_softmax(logits_of(m, &s, fused(t, m, &b, &s)), NULL);
        tensor_copy_to_host(probs, out + 2 * start);
        autograd_step_end();
    }
    net->dropout.training = was_training;
    autograd_set_enabled(prev);
    return 0;
}

static int32_t item_label(const Task *t, TaskSplit split, int64_t item) {
    static const char *const names[] = {"training", "test", "validation"};
    const PgrSamples *s = samples_of(t, split);
    if (!s || item < 0 || item >= s->n)
        return error_set("pgr: item %lld is not in the %s split (%lld items)", (long long)item, names[split],
                         (long long)(s ? s->n : 0));
    return s->label[item];
}

static Tensor *item_loss(const Task *t, TaskModel *m, const TaskBatch *b) {
    TaskSides s = sides(t, m, b);
    return op_cross_entropy(logits_of(m, &s, fused(t, m, b, &s)), inputs_of(b)->labels);
}

static double item_accuracy(const Task *t, TaskModel *m, const TaskBatch *b) {
    int prev = autograd_set_enabled(0);
    TaskSides s = sides(t, m, b);
    float *l = xmalloc((size_t)(2 * b->n) * sizeof *l);
    tensor_copy_to_host(logits_of(m, &s, fused(t, m, b, &s)), l);
    int right = 0;
    for (int k = 0; k < b->n; k++) right += (l[2 * k + 1] > l[2 * k]) == b->labels[k];
    free(l);
    autograd_set_enabled(prev);
    return (double)right / (double)b->n;
}

static int split_batch_make(const Task *t, TaskSplit split, const int64_t *items, int n, TaskBatch *out) {
    if (!samples_of(t, split) || (n > 0 && t->n_items[split] == 0)) return error_set("pgr: the split is absent");
    *out = make_batch(t, split, items, n, data_of(t)->device);
    return 0;
}

/* The text encoder's states: PGR fuses after the [CLS] (models/pgr_model.h), so no token sees the graph. */
static Tensor *text_states(const Task *t, TaskModel *m, const TaskBatch *b) {
    (void)t;
    return bert_text_forward(&task_pgr_model(m)->text, inputs_of(b)->ids, inputs_of(b)->mask_add, dropout_of(m));
}

static Tensor *word_embeddings(const Task *t, TaskModel *m) {
    (void)t;
    return task_pgr_model(m)->text.word.weight;
}

/* f_T and the fusion FFN g; the graph side and the classifier stay. */
static const char *const TEXT_SIDE[] = {"text_encoder.", "fusion.", NULL};

static void task_free(Task *t) { memset(t, 0, sizeof *t); }

void task_pgr_init(Task *t, const PgrTaskData *d) {
    const PgrCorpus *c = d->corpus;
    *t = (Task){
        .name = "pgr",
        .kind = TASK_CLASSIFICATION,
        .n_classes = 2,
        .cfg = &d->bert_cfg,
        .n_items = {c->split[PGR_SPLIT_TRAIN].n, c->split[PGR_SPLIT_TEST].n, c->split[PGR_SPLIT_VAL].n},
        .data = {&c->split[PGR_SPLIT_TRAIN], &c->split[PGR_SPLIT_TEST], &c->split[PGR_SPLIT_VAL]},
        .state = (void *)d,
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
        .image_tokens = 1,
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
