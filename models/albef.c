#include "models/albef.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"
#include "nn/attention.h"

/* F.normalize's default eps, as LAVIS uses it for the ITC features. */
#define ITC_NORM_EPS 1e-12f
/* Philox stream of the initial queue contents (any constant distinct from the
 * parameter streams, which are keyed by name hashes). */
#define QUEUE_INIT_STREAM 0x7175657565ULL /* "queue" */
/* idx_queue's "empty" id: never equal to a real image index (§3.1). */
#define IDX_QUEUE_EMPTY (-100)

static void encoders_declare(AlbefEncoders *e, ParamSet *ps, const ModelConfig *c, const char *suffix) {
    char name[64];
    snprintf(name, sizeof name, "visual_encoder%s", suffix);
    vit_declare(&e->visual, ps, name, c);
    snprintf(name, sizeof name, "text_encoder%s", suffix);
    bert_declare(&e->text, ps, name, c);
    snprintf(name, sizeof name, "vision_proj%s", suffix);
    linear_declare(&e->vision_proj, ps, name, c->vision_width, c->embed_dim, 1);
    snprintf(name, sizeof name, "text_proj%s", suffix);
    linear_declare(&e->text_proj, ps, name, c->text_width, c->embed_dim, 1);
}

/* The momentum set is declared in the same order as the online encoders, so
 * the EMA can run over the flat value blocks; this proves the pairing once:
 * momentum parameter k is online parameter k with "_m" after its module name. */
static void check_momentum_pairing(const Albef *m) {
    for (int k = 0; k < m->momentum.count; k++) {
        const Tensor *pm = m->momentum.items[k], *po = m->params.items[k];
        const char *dot_m = strchr(pm->name, '.'), *dot_o = strchr(po->name, '.');
        size_t head = (size_t)(dot_o - po->name);
        CHECK(dot_m && dot_o && (size_t)(dot_m - pm->name) == head + 2 && !strncmp(pm->name, po->name, head) &&
                  !strncmp(pm->name + head, "_m", 2) && !strcmp(dot_m, dot_o) && tensor_same_shape(pm, po) &&
                  params_offset(&m->momentum, pm) == params_offset(&m->params, po),
              "momentum parameter %s does not pair with %s", pm->name, po->name);
    }
}

static void queues_init(Albef *m, uint64_t seed) {
    int64_t E = m->cfg.embed_dim, Q = m->cfg.queue_size;
    if (Q == 0) return;
    float *queues[2] = {m->image_queue, m->text_queue};
    for (int which = 0; which < 2; which++) {
        float *q = queues[which];
        Rng rng = rng_make(seed, QUEUE_INIT_STREAM + (uint64_t)which);
        for (int64_t k = 0; k < E * Q; k++) q[k] = rng_normal(&rng);
        for (int64_t j = 0; j < Q; j++) { /* unit columns */
            double ss = 0.0;
            for (int64_t e = 0; e < E; e++) ss += (double)q[e * Q + j] * q[e * Q + j];
            float inv = (float)(1.0 / fmax(sqrt(ss), ITC_NORM_EPS));
            for (int64_t e = 0; e < E; e++) q[e * Q + j] *= inv;
        }
    }
    for (int64_t j = 0; j < Q; j++) m->idx_queue[j] = IDX_QUEUE_EMPTY;
    m->queue_ptr = 0;
}

void albef_init(Albef *m, const ModelConfig *cfg, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    params_init(&m->params);
    params_init(&m->momentum);

    /* The encoders first, so the momentum twins pair with a prefix of the online block. */
    encoders_declare(&m->online, &m->params, cfg, "");
    linear_declare(&m->itm_head, &m->params, "itm_head", cfg->text_width, 2, 1);
    m->temp = params_add(&m->params, "temp", 0, NULL);
    params_finalize(&m->params);
    params_initialize(&m->params, seed);
    tensor_f32(m->temp)[0] = cfg->temp_init;

    if (cfg->momentum_distill) {
        encoders_declare(&m->ema, &m->momentum, cfg, "_m");
        params_finalize(&m->momentum);
        params_freeze(&m->momentum); /* EMA twins: never a gradient (§3.1) */
        check_momentum_pairing(m);
        params_copy_to_twins(&m->momentum, &m->params);
    }

    size_t qn = (size_t)cfg->embed_dim * (size_t)cfg->queue_size;
    if (qn > 0) { /* host memory until albef_to_device (device_alloc stops when exhausted) */
        m->image_queue = device_alloc(DEVICE_CPU, qn * sizeof(float));
        m->text_queue = device_alloc(DEVICE_CPU, qn * sizeof(float));
        m->idx_queue = malloc((size_t)cfg->queue_size * sizeof(int64_t));
        CHECK(m->idx_queue, "out of memory for the ITC queues");
    }
    queues_init(m, seed);
    albef_set_mode(m, 0, seed);
}

void albef_free(Albef *m) {
    Device queues = m->params.device;
    device_release(queues, m->image_queue);
    device_release(queues, m->text_queue);
    vit_free(&m->online.visual);
    bert_free(&m->online.text);
    vit_free(&m->ema.visual);
    bert_free(&m->ema.text);
    params_free(&m->params);
    params_free(&m->momentum);
    free(m->idx_queue);
    memset(m, 0, sizeof *m);
}

void albef_set_mode(Albef *m, int training, uint64_t step_seed) {
    m->dropout = (DropoutState){.p = m->cfg.text_dropout, .training = training, .seed = step_seed, .stream = 0};
}

static Tensor *first_token(Tensor *x) {
    return op_reshape(op_slice(x, 1, 0, 1), SHAPE(x->shape[0], x->shape[2]));
}

/* The model's entry points take batches built on the host and move them to
 * the device the parameters live on (a no-op on the CPU), so data loaders and
 * evaluators need not know where the model runs. */
static AlbefImageEmbed embed_image(const AlbefEncoders *e, Tensor *images, Tensor *token_mask) {
    AlbefImageEmbed out;
    out.tokens = vit_forward(&e->visual, tensor_on(images, e->vision_proj.weight->device));
    if (token_mask) out.tokens = op_mul(out.tokens, token_mask); /* Erm-Ktp's mask (albef.h) */
    out.feat = op_l2_normalize(linear_forward(&e->vision_proj, first_token(out.tokens)), ITC_NORM_EPS);
    return out;
}

static AlbefTextEmbed embed_text(const AlbefEncoders *e, Tensor *ids, Tensor *mask01, DropoutState *dropout) {
    AlbefTextEmbed out;
    /* The additive mask is made where mask01 is and then sent; ids stay
     * where they are (the embedding op checks host ids before sending them). */
    out.mask = tensor_on(attention_additive_mask(mask01), e->text_proj.weight->device);
    out.tokens = bert_text_forward(&e->text, ids, out.mask, dropout);
    out.feat = op_l2_normalize(linear_forward(&e->text_proj, first_token(out.tokens)), ITC_NORM_EPS);
    return out;
}

AlbefImageEmbed albef_embed_image(Albef *m, Tensor *images) {
    return embed_image(&m->online, images, m->image_token_mask);
}

AlbefTextEmbed albef_embed_text(Albef *m, Tensor *ids, Tensor *mask01) {
    return embed_text(&m->online, ids, mask01, &m->dropout);
}

AlbefImageEmbed albef_embed_image_momentum(Albef *m, Tensor *images) {
    CHECK(m->cfg.momentum_distill, "momentum encoder requested but momentum_distill is off");
    int prev = autograd_set_enabled(0);
    AlbefImageEmbed out = embed_image(&m->ema, images, m->image_token_mask);
    autograd_set_enabled(prev);
    return out;
}

AlbefTextEmbed albef_embed_text_momentum(Albef *m, Tensor *ids, Tensor *mask01) {
    CHECK(m->cfg.momentum_distill, "momentum encoder requested but momentum_distill is off");
    int prev = autograd_set_enabled(0);
    /* §5.4: the momentum forward runs in the same mode as the online one
     * (dropout active in training, with its own masks from the advancing stream). */
    AlbefTextEmbed out = embed_text(&m->ema, ids, mask01, &m->dropout);
    autograd_set_enabled(prev);
    return out;
}

Tensor *albef_fused_cls(Albef *m, const AlbefTextEmbed *text, Tensor *image_tokens) {
    Device device = m->params.device;
    Tensor *h = bert_fusion_forward(&m->online.text, tensor_on(text->tokens, device), tensor_on(text->mask, device),
                                    tensor_on(image_tokens, device), &m->dropout);
    return first_token(h);
}

Tensor *albef_itm_logits(Albef *m, Tensor *fused_cls) { return linear_forward(&m->itm_head, fused_cls); }

void albef_momentum_update(Albef *m) {
    if (m->cfg.momentum_distill) params_ema_update(&m->momentum, &m->params, m->cfg.momentum);
}

void albef_enqueue(Albef *m, const Tensor *image_feat, const Tensor *text_feat, const int64_t *ids) {
    int64_t Q = m->cfg.queue_size, E = m->cfg.embed_dim;
    if (Q == 0) return;
    CHECK(image_feat->ndim == 2 && image_feat->shape[1] == E && tensor_same_shape(image_feat, text_feat),
          "enqueue: features must be [B, %lld]", (long long)E);
    int64_t B = image_feat->shape[0];
    Device device = m->params.device;
    CHECK(image_feat->device == device && text_feat->device == device && image_feat->dtype == DTYPE_F32 &&
              text_feat->dtype == DTYPE_F32,
          "enqueue: features must be f32 on the model's device");
    op_write_columns(m->image_queue, Q, m->queue_ptr, image_feat);
    op_write_columns(m->text_queue, Q, m->queue_ptr, text_feat);
    for (int64_t b = 0; b < B; b++) m->idx_queue[(m->queue_ptr + b) % Q] = ids[b];
    m->queue_ptr = (m->queue_ptr + B) % Q;
}

void albef_clamp_temp(Albef *m) { params_clamp(m->temp, m->cfg.temp_min, m->cfg.temp_max); }

/* A queue's E x Q floats moved from `from` to `to`. */
static float *queue_moved(float *q, Device from, Device to, int64_t n) {
    if (q == NULL || from == to) return q;
    float *moved = device_alloc(to, (size_t)n * sizeof *moved);
    device_copy(moved, to, q, from, (size_t)n * sizeof *q);
    device_release(from, q);
    return moved;
}

void albef_to_device(Albef *m, Device device) {
    int64_t n = (int64_t)m->cfg.embed_dim * m->cfg.queue_size;
    m->image_queue = queue_moved(m->image_queue, m->params.device, device, n);
    m->text_queue = queue_moved(m->text_queue, m->params.device, device, n);
    params_to_device(&m->params, device);
    if (m->momentum.finalized) params_to_device(&m->momentum, device); /* none without distillation */
    if (m->image_token_mask) m->image_token_mask = tensor_on(m->image_token_mask, device);
}

int albef_set_fusion_only(Albef *m) {
    int n_fusion = m->cfg.text_layers - m->cfg.fusion_layer;
    char (*names)[64] = calloc((size_t)n_fusion + 1, sizeof *names);
    const char **prefixes = calloc((size_t)n_fusion + 2, sizeof *prefixes);
    CHECK(names && prefixes, "out of memory");
    for (int k = 0; k < n_fusion; k++) {
        /* The trailing dot keeps layer 1 from matching layer 10. */
        snprintf(names[k], sizeof names[k], "text_encoder.encoder.layer.%d.", m->cfg.fusion_layer + k);
        prefixes[k] = names[k];
    }
    prefixes[n_fusion] = "itm_head.";
    prefixes[n_fusion + 1] = NULL;
    params_set_trainable_all(&m->params, 0);
    int matched = params_set_trainable_prefixes(&m->params, prefixes, 1);
    free(names);
    free(prefixes);
    return matched;
}
