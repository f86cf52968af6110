/* ALBEF for SNLI-VE and NLVR2 (spec/albef_blip.md §3.2-3.3). */
#include "models/albef_cls.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "nn/attention.h"

int albef_cls_task_parse(const char *name, AlbefClsTask *out) {
    if (!strcmp(name, "snli_ve")) *out = ALBEF_TASK_SNLI_VE;
    else if (!strcmp(name, "nlvr2")) *out = ALBEF_TASK_NLVR2;
    else return error_set("unknown classification task \"%s\" (snli_ve or nlvr2)", name);
    return 0;
}

const char *albef_cls_task_name(AlbefClsTask task) { return task == ALBEF_TASK_NLVR2 ? "nlvr2" : "snli_ve"; }
int albef_cls_task_classes(AlbefClsTask task) { return task == ALBEF_TASK_NLVR2 ? 2 : 3; }
int albef_cls_task_images(AlbefClsTask task) { return task == ALBEF_TASK_NLVR2 ? 2 : 1; }

/* cls_head.{0,2}: a new head gets PyTorch's default Linear init, U(±1/sqrt(fan_in))
 * for weight and bias (§3.2). */
static void head_declare(Linear *l, ParamSet *ps, const char *prefix, int in, int out) {
    char name[96];
    float bound = 1.0f / sqrtf((float)in);
    l->in = in;
    l->out = out;
    snprintf(name, sizeof name, "%s.weight", prefix);
    l->weight = params_add_init(ps, name, SHAPE(out, in), PARAM_INIT_UNIFORM, bound);
    snprintf(name, sizeof name, "%s.bias", prefix);
    l->bias = params_add_init(ps, name, SHAPE(out), PARAM_INIT_UNIFORM, bound);
}

static void modules_declare(AlbefClsModules *e, ParamSet *ps, const AlbefCls *m, const char *suffix) {
    const ModelConfig *c = &m->cfg;
    char name[64];
    snprintf(name, sizeof name, "visual_encoder%s", suffix);
    vit_declare(&e->visual, ps, name, c);
    snprintf(name, sizeof name, "text_encoder%s", suffix);
    if (m->task == ALBEF_TASK_NLVR2) bert_declare_nlvr(&e->text, ps, name, c);
    else bert_declare(&e->text, ps, name, c);
    snprintf(name, sizeof name, "cls_head%s.0", suffix);
    head_declare(&e->head0, ps, name, c->text_width, c->text_width);
    snprintf(name, sizeof name, "cls_head%s.2", suffix);
    head_declare(&e->head2, ps, name, c->text_width, m->n_classes);
}

/* The EMA runs over the flat value blocks, so momentum parameter k must be
 * online parameter k with "_m" after its module name, at the same offset. */
static void check_momentum_pairing(const AlbefCls *m) {
    CHECK(m->momentum.count == m->params.count && m->momentum.total == m->params.total,
          "momentum set does not mirror the online set");
    for (int k = 0; k < m->momentum.count; k++) {
        const Tensor *pm = m->momentum.items[k], *po = m->params.items[k];
        const char *dot_m = strchr(pm->name, '.'), *dot_o = strchr(po->name, '.');
        size_t head = (size_t)(dot_o - po->name);
        CHECK(dot_m && dot_o && (size_t)(dot_m - pm->name) == head + 2 && !strncmp(pm->name, po->name, head) &&
                  !strcmp(dot_m, dot_o) && tensor_same_shape(pm, po) &&
                  params_offset(&m->momentum, pm) == params_offset(&m->params, po),
              "momentum parameter %s does not pair with %s", pm->name, po->name);
    }
}

void albef_cls_init(AlbefCls *m, const ModelConfig *cfg, AlbefClsTask task, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->task = task;
    m->n_classes = albef_cls_task_classes(task);
    m->n_images = albef_cls_task_images(task);
    params_init(&m->params);
    params_init(&m->momentum);
    modules_declare(&m->online, &m->params, m, "");
    params_finalize(&m->params);
    params_initialize(&m->params, seed);
    if (cfg->momentum_distill) {
        modules_declare(&m->ema, &m->momentum, m, "_m");
        params_finalize(&m->momentum);
        params_freeze(&m->momentum); /* EMA twins: never a gradient (§3.1) */
        check_momentum_pairing(m);
        params_copy_to_twins(&m->momentum, &m->params);
    }
    albef_cls_set_mode(m, 0, seed);
}

int64_t albef_cls_param_count(const ModelConfig *cfg, AlbefClsTask task) {
    AlbefCls m;
    memset(&m, 0, sizeof m);
    m.cfg = *cfg;
    m.task = task;
    m.n_classes = albef_cls_task_classes(task);
    params_init(&m.params);
    modules_declare(&m.online, &m.params, &m, ""); /* shapes only: nothing is allocated */
    int64_t n = 0;
    for (int k = 0; k < m.params.count; k++) n += tensor_numel(m.params.items[k]);
    albef_cls_free(&m);
    return n;
}

void albef_cls_free(AlbefCls *m) {
    vit_free(&m->online.visual);
    bert_free(&m->online.text);
    vit_free(&m->ema.visual);
    bert_free(&m->ema.text);
    params_free(&m->params);
    params_free(&m->momentum);
    memset(m, 0, sizeof *m);
}

void albef_cls_set_mode(AlbefCls *m, int training, uint64_t step_seed) {
    m->dropout = (DropoutState){.p = m->cfg.text_dropout, .training = training, .seed = step_seed, .stream = 0};
}

void albef_cls_to_device(AlbefCls *m, Device device) {
    params_to_device(&m->params, device);
    if (m->momentum.finalized) params_to_device(&m->momentum, device);
    if (m->image_token_mask) m->image_token_mask = tensor_on(m->image_token_mask, device);
}

static Tensor *first_token(Tensor *x) {
    return op_reshape(op_slice(x, 1, 0, 1), SHAPE(x->shape[0], x->shape[2]));
}

static void check_batch(const AlbefCls *m, const AlbefClsBatch *b) {
    CHECK(b->image0 && b->text_ids && b->text_mask, "albef_cls: a batch needs image0, text_ids and text_mask");
    CHECK((b->image1 != NULL) == (m->n_images == 2), "albef_cls: %s takes %d image(s) per item",
          albef_cls_task_name(m->task), m->n_images);
    CHECK(b->text_ids->shape[0] == b->image0->shape[0], "albef_cls: %lld texts for %lld images",
          (long long)b->text_ids->shape[0], (long long)b->image0->shape[0]);
}

/* The ViT of `e` on images [R, 3, S, S], then the optional token mask. */
static Tensor *vit_tokens(const AlbefCls *m, const AlbefClsModules *e, Tensor *images) {
    Tensor *tokens = vit_forward(&e->visual, tensor_on(images, m->params.device));
    return m->image_token_mask ? op_mul(tokens, m->image_token_mask) : tokens;
}

/* The ViT on every image of the batch. NLVR2 runs both images as one batch of
 * 2B and splits it (§3.3), which gives the same rows as two calls. */
static void images_forward(const AlbefCls *m, const AlbefClsModules *e, const AlbefClsBatch *b, Tensor *tokens[2]) {
    tokens[1] = NULL;
    if (!b->image1) {
        tokens[0] = vit_tokens(m, e, b->image0);
        return;
    }
    Device device = m->params.device;
    Tensor *both[2] = {tensor_on(b->image0, device), tensor_on(b->image1, device)};
    Tensor *all = vit_tokens(m, e, op_concat(both, 2, 0));
    int64_t B = b->image0->shape[0];
    tokens[0] = op_slice(all, 0, 0, B);
    tokens[1] = op_slice(all, 0, B, B);
}

/* Fusion layers of `text_side` on text-mode states, then `head_side`'s
 * cls_head on the fused [CLS]. */
static Tensor *fuse(const AlbefClsModules *text_side, const AlbefClsModules *head_side, Tensor *text, Tensor *mask,
                    Tensor *image0, Tensor *image1, DropoutState *dropout, Tensor **fused_cls) {
    Tensor *h = image1 ? bert_fusion_forward_pair(&text_side->text, text, mask, image0, image1, dropout)
                       : bert_fusion_forward(&text_side->text, text, mask, image0, dropout);
    Tensor *z = first_token(h);
    if (fused_cls) *fused_cls = z;
    return linear_forward(&head_side->head2, op_relu(linear_forward(&head_side->head0, z)));
}

Tensor *albef_cls_image_tokens(AlbefCls *m, Tensor *images) { return vit_tokens(m, &m->online, images); }

Tensor *albef_cls_text_tokens(AlbefCls *m, Tensor *ids, Tensor *mask01, Tensor **additive_mask) {
    Tensor *mask = tensor_on(attention_additive_mask(mask01), m->params.device);
    if (additive_mask) *additive_mask = mask;
    return bert_text_forward(&m->online.text, ids, mask, &m->dropout);
}

Tensor *albef_cls_fuse(AlbefCls *m, Tensor *text_tokens, Tensor *additive_mask, Tensor *image0, Tensor *image1,
                       Tensor **logits) {
    CHECK((image1 != NULL) == (m->n_images == 2), "albef_cls: %s takes %d image(s) per item",
          albef_cls_task_name(m->task), m->n_images);
    Device device = m->params.device;
    Tensor *z;
    Tensor *l = fuse(&m->online, &m->online, tensor_on(text_tokens, device), tensor_on(additive_mask, device),
                     tensor_on(image0, device), image1 ? tensor_on(image1, device) : NULL, &m->dropout, &z);
    if (logits) *logits = l;
    return z;
}

AlbefClsOutput albef_cls_forward(AlbefCls *m, const AlbefClsBatch *batch) {
    check_batch(m, batch);
    AlbefClsOutput out;
    images_forward(m, &m->online, batch, out.image_tokens);
    Tensor *mask;
    out.text_tokens = albef_cls_text_tokens(m, batch->text_ids, batch->text_mask, &mask);
    out.logits = fuse(&m->online, &m->online, out.text_tokens, mask, out.image_tokens[0], out.image_tokens[1],
                      &m->dropout, &out.fused_cls);
    return out;
}

Tensor *albef_cls_momentum_logits(AlbefCls *m, const AlbefClsBatch *batch) {
    CHECK(m->cfg.momentum_distill, "momentum logits requested but momentum_distill is off");
    check_batch(m, batch);
    int prev = autograd_set_enabled(0);
    Tensor *tokens[2];
    images_forward(m, &m->ema, batch, tokens);
    Tensor *mask = tensor_on(attention_additive_mask(batch->text_mask), m->params.device);
    /* §3.3: LAVIS's NLVR2 teacher reads the online text encoder (orig-ALBEF
     * the momentum one); text_encoder_m is still EMA-updated. */
    const AlbefClsModules *text_side = m->task == ALBEF_TASK_NLVR2 ? &m->online : &m->ema;
    Tensor *text = bert_text_forward(&text_side->text, batch->text_ids, mask, &m->dropout);
    Tensor *logits = fuse(text_side, &m->ema, text, mask, tokens[0], tokens[1], &m->dropout, NULL);
    autograd_set_enabled(prev);
    return logits;
}

void albef_cls_momentum_update(AlbefCls *m) {
    if (m->cfg.momentum_distill) params_ema_update(&m->momentum, &m->params, m->cfg.momentum);
}

Tensor *albef_cls_loss(AlbefCls *m, const AlbefClsBatch *batch, float alpha, AlbefClsLossOutput *out) {
    CHECK(batch->labels && batch->labels->dtype == DTYPE_I32 && batch->labels->ndim == 1 &&
              batch->labels->shape[0] == batch->image0->shape[0],
          "albef_cls_loss: labels must be i32 [B]");
    memset(out, 0, sizeof *out);
    /* §3.2: the EMA runs first, then the momentum forward. */
    albef_cls_momentum_update(m);
    AlbefClsOutput f = albef_cls_forward(m, batch);
    out->logits = f.logits;
    out->ce = op_cross_entropy(f.logits, batch->labels);
    if (!m->cfg.momentum_distill) {
        out->loss = out->ce;
        return out->loss;
    }
    out->momentum_logits = albef_cls_momentum_logits(m, batch);
    int prev = autograd_set_enabled(0);
    Tensor *teacher = op_softmax(out->momentum_logits, NULL);
    autograd_set_enabled(prev);
    out->distill = op_soft_cross_entropy(f.logits, teacher);
    out->loss = op_add(op_scale(out->ce, 1.0f - alpha), op_scale(out->distill, alpha));
    return out->loss;
}

int albef_cls_set_fusion_only(AlbefCls *m) {
    int n_fusion = m->cfg.text_layers - m->cfg.fusion_layer;
    char (*names)[64] = calloc((size_t)n_fusion + 1, sizeof *names);
    const char **prefixes = calloc((size_t)n_fusion + 2, sizeof *prefixes);
    CHECK(names && prefixes, "out of memory");
    for (int k = 0; k < n_fusion; k++) {
        /* The trailing dot keeps layer 1 from matching layer 10. */
        snprintf(names[k], sizeof names[k], "text_encoder.encoder.layer.%d.", m->cfg.fusion_layer + k);
        prefixes[k] = names[k];
    }
    prefixes[n_fusion] = "cls_head.";
    prefixes[n_fusion + 1] = NULL;
    params_set_trainable_all(&m->params, 0);
    int matched = params_set_trainable_prefixes(&m->params, prefixes, 1);
    free(names);
    free(prefixes);
    return matched;
}
