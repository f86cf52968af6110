#include "models/mlm_head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/params_io.h"
#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"

void mlm_head_init(MlmHead *h, const ModelConfig *cfg, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->vocab = cfg->vocab_size;
    h->dim = cfg->text_width;
    params_init(&h->params);
    linear_declare(&h->dense, &h->params, MLM_HEAD_PREFIX "transform.dense", h->dim, h->dim, 1);
    layernorm_declare(&h->norm, &h->params, MLM_HEAD_PREFIX "transform.LayerNorm", h->dim, cfg->text_ln_eps);
    h->bias = params_add(&h->params, MLM_HEAD_PREFIX "bias", 1, (int64_t[]){h->vocab});
    params_finalize(&h->params);
    params_initialize(&h->params, seed);
}

void mlm_head_free(MlmHead *h) {
    params_free(&h->params);
    memset(h, 0, sizeof *h);
}

int mlm_head_save(const MlmHead *h, const char *path) { return params_save(&h->params, path, NULL, 0); }

int mlm_head_load(MlmHead *h, const char *path) {
    /* Only the head's names count; the decoder weight (tied) and the rest of a
     * pre-training checkpoint are skipped. */
    ParamsLoadOptions o = {.strict = 0, .file_prefix = MLM_HEAD_PREFIX, .param_prefix = MLM_HEAD_PREFIX};
    ParamsLoadReport r = {0};
    int rc = params_load(&h->params, path, o, &r);
    if (rc == 0 && (r.missing || r.mismatched))
        rc = error_set("%s: not an MLM head for this model (%d missing, %d mismatched):\n%s", path, r.missing,
                       r.mismatched, r.details ? r.details : "");
    params_load_report_free(&r);
    return rc;
}

void mlm_head_to_device(MlmHead *h, Device device) { params_to_device(&h->params, device); }

int64_t mlm_mask(const int32_t *ids, const int32_t *mask, int n, int L, float prob, MlmSpecial sp,
                 int vocab, uint64_t seed, uint64_t stream, int32_t *out_ids, int32_t *labels) {
    int64_t chosen = 0;
    for (int64_t k = 0; k < (int64_t)n * L; k++) {
        int32_t id = ids[k];
        out_ids[k] = id;
        labels[k] = MLM_IGNORE;
        if (!mask[k] || id == sp.cls || id == sp.sep || id == sp.pad) continue;
        /* Three uniforms per element: choose, replace kind, random token. */
        if (philox_uniform(seed, stream, 3 * (uint64_t)k) >= prob) continue;
        labels[k] = id;
        chosen++;
        float kind = philox_uniform(seed, stream, 3 * (uint64_t)k + 1);
        if (kind < 0.8f)
            out_ids[k] = sp.mask;
        else if (kind < 0.9f)
            out_ids[k] = (int32_t)(philox_u32(seed, stream, 3 * (uint64_t)k + 2) % (uint32_t)vocab);
    }
    return chosen;
}

void mlm_head_loss(const MlmHead *h, Tensor *word_embeddings, Tensor *hidden, const int32_t *labels, MlmOutput *out) {
    memset(out, 0, sizeof *out);
    int64_t BL = hidden->shape[0] * hidden->shape[1], D = hidden->shape[2];
    int64_t K = 0;
    for (int64_t k = 0; k < BL; k++) K += labels[k] != MLM_IGNORE;
    out->n_labelled = K;
    if (K == 0) return;
    /* Only the labelled rows go through the head: the vocabulary projection is
     * most of its cost. */
    Tensor *idx = tensor_new(DTYPE_I32, SHAPE(K));
    Tensor *target = tensor_new(DTYPE_I32, SHAPE(K));
    for (int64_t k = 0, j = 0; k < BL; k++)
        if (labels[k] != MLM_IGNORE) {
            tensor_i32(idx)[j] = (int32_t)k;
            tensor_i32(target)[j++] = labels[k];
        }
    Tensor *rows = op_index_select(op_reshape(hidden, SHAPE(BL, D)), 0, idx);
    Tensor *t = layernorm_forward(&h->norm, op_gelu(linear_forward(&h->dense, rows)));
    Tensor *logits = op_linear(t, word_embeddings, h->bias); /* decoder tied to the word embeddings */
    out->loss = op_cross_entropy(logits, target);
    /* The accuracy and NLL are counted on the host: device logits come down
     * first ([K, V], once per batch). */
    const float *l = tensor_f32(logits->device == DEVICE_CPU ? logits : tensor_to_device(logits, DEVICE_CPU));
    for (int64_t j = 0; j < K; j++) {
        const float *row = l + j * h->vocab;
        int best = 0;
        float mx = row[0];
        for (int v = 1; v < h->vocab; v++)
            if (row[v] > mx) mx = row[v], best = v;
        double se = 0;
        for (int v = 0; v < h->vocab; v++) se += exp((double)row[v] - mx);
        out->nll_sum += (double)mx + log(se) - (double)row[tensor_i32(target)[j]];
        out->n_correct += best == tensor_i32(target)[j];
    }
}
