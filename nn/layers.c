/* Linear, LayerNorm, Embedding, Mlp and Dropout: parameter declaration under
 * checkpoint names (spec/albef_blip.md §8.1) and application through the ops. */
#include "nn/layers.h"

#include <stdio.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

/* BERT and timm both initialise weights with std 0.02 (BertPreTrainedModel
 * ._init_weights, timm VisionTransformer._init_weights). */
#define NN_INIT_STD 0.02f

static const char *join_name(char *buf, size_t size, const char *prefix, const char *leaf) {
    int n = snprintf(buf, size, "%s.%s", prefix, leaf);
    CHECK(n > 0 && (size_t)n < size, "parameter name too long: %s.%s", prefix, leaf);
    return buf;
}

void linear_declare_init(Linear *l, ParamSet *ps, const char *prefix, int in, int out, int has_bias,
                         ParamInit weight_init) {
    char name[512];
    l->in = in;
    l->out = out;
    l->weight = params_add_init(ps, join_name(name, sizeof name, prefix, "weight"), SHAPE(out, in), weight_init,
                                NN_INIT_STD);
    params_mark_product_weight(ps, l->weight); /* read by op_linear alone */
    l->bias = has_bias ? params_add_init(ps, join_name(name, sizeof name, prefix, "bias"), SHAPE(out),
                                         PARAM_INIT_ZEROS, 0.0f)
                       : NULL;
}

void linear_declare(Linear *l, ParamSet *ps, const char *prefix, int in, int out, int has_bias) {
    linear_declare_init(l, ps, prefix, in, out, has_bias, PARAM_INIT_NORMAL);
}

Tensor *linear_forward(const Linear *l, Tensor *x) {
    CHECK(x->shape[x->ndim - 1] == l->in, "%s: input width %lld, layer expects %d",
          l->weight->name ? l->weight->name : "linear", (long long)x->shape[x->ndim - 1], l->in);
    return op_linear(x, l->weight, l->bias);
}

void layernorm_declare(LayerNorm *ln, ParamSet *ps, const char *prefix, int dim, float eps) {
    char name[512];
    ln->eps = eps;
    ln->weight = params_add_init(ps, join_name(name, sizeof name, prefix, "weight"), SHAPE(dim), PARAM_INIT_ONES,
                                 0.0f);
    ln->bias = params_add_init(ps, join_name(name, sizeof name, prefix, "bias"), SHAPE(dim), PARAM_INIT_ZEROS,
                               0.0f);
}

Tensor *layernorm_forward(const LayerNorm *ln, Tensor *x) { return op_layernorm(x, ln->weight, ln->bias, ln->eps); }

Tensor *layernorm_add_forward(const LayerNorm *ln, Tensor *x, Tensor *a, Tensor **sum) {
    return op_add_layernorm(x, a, ln->weight, ln->bias, ln->eps, sum);
}

Tensor *layernorm_forward_for_products(const LayerNorm *ln, Tensor *x) {
    return op_layernorm_to(x, ln->weight, ln->bias, ln->eps, ops_product_dtype(x->device, "layernorm"));
}

Tensor *layernorm_add_forward_for_products(const LayerNorm *ln, Tensor *x, Tensor *a, Tensor **sum) {
    return op_add_layernorm_to(x, a, ln->weight, ln->bias, ln->eps, sum, ops_product_dtype(x->device, "layernorm"));
}

void embedding_declare(Embedding *e, ParamSet *ps, const char *prefix, int count, int dim) {
    char name[512];
    e->weight = params_add_init(ps, join_name(name, sizeof name, prefix, "weight"), SHAPE(count, dim),
                                PARAM_INIT_NORMAL, NN_INIT_STD);
}

Tensor *embedding_forward(const Embedding *e, Tensor *ids) { return op_embedding(e->weight, ids); }

void mlp_declare(Mlp *m, ParamSet *ps, const char *prefix, const char *fc1_name, const char *fc2_name, int dim,
                 int hidden) {
    char name[512];
    /* The Mlp is timm's (ViT): truncated-normal weights. */
    linear_declare_init(&m->fc1, ps, join_name(name, sizeof name, prefix, fc1_name), dim, hidden, 1,
                        PARAM_INIT_TRUNC_NORMAL);
    linear_declare_init(&m->fc2, ps, join_name(name, sizeof name, prefix, fc2_name), hidden, dim, 1,
                        PARAM_INIT_TRUNC_NORMAL);
}

/* The GELU output is read again only by fc2's weight gradient: recomputed
 * there from fc1's output (kept for GELU's own backward) instead of held. */
Tensor *mlp_forward(const Mlp *m, Tensor *x) {
    Tensor *hidden = op_gelu(linear_forward(&m->fc1, x));
    Tensor *y = linear_forward(&m->fc2, hidden);
    autograd_rematerialize(hidden);
    return y;
}

static RngRows batch_rows; /* RNG_ROWS_ONE */

void dropout_set_batch_rows(RngRows rows) { batch_rows = rows; }

RngRows dropout_batch_rows(void) { return batch_rows; }

Tensor *dropout_forward(DropoutState *d, Tensor *x) {
    if (d == NULL || !d->training || d->p <= 0.0f) return x;
    /* Each call site and step draws a fresh mask: the stream advances per call
     * so two dropouts of one step never share their mask (DESIGN.md "Deterministic"). */
    return op_dropout_rows(x, d->p, d->seed, d->stream++, batch_rows);
}
