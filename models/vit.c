#include "models/vit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "autograd/ops.h"
#include "core/error.h"

/* timm initialises the class token and position table with trunc_normal(0.02). */
#define VIT_INIT_STD 0.02f

void vit_declare(Vit *v, ParamSet *ps, const char *prefix, const ModelConfig *c) {
    char name[256];
    int D = c->vision_width, p = c->patch_size;
    v->dim = D;
    v->patch = p;
    v->image_size = c->image_size;
    v->depth = c->vision_depth;
    v->tokens = model_config_image_tokens(c);

    snprintf(name, sizeof name, "%s.cls_token", prefix);
    v->cls_token = params_add_init(ps, name, SHAPE(1, 1, D), PARAM_INIT_TRUNC_NORMAL, VIT_INIT_STD);
    snprintf(name, sizeof name, "%s.pos_embed", prefix);
    v->pos_embed = params_add_init(ps, name, SHAPE(1, v->tokens, D), PARAM_INIT_TRUNC_NORMAL, VIT_INIT_STD);
    snprintf(name, sizeof name, "%s.patch_embed.proj.weight", prefix);
    v->patch_weight = params_add_init(ps, name, SHAPE(D, 3, p, p), PARAM_INIT_TRUNC_NORMAL, VIT_INIT_STD);
    snprintf(name, sizeof name, "%s.patch_embed.proj.bias", prefix);
    v->patch_bias = params_add_init(ps, name, SHAPE(D), PARAM_INIT_ZEROS, 0.0f);

    v->blocks = calloc((size_t)v->depth, sizeof *v->blocks);
    CHECK(v->blocks != NULL, "out of memory");
    for (int i = 0; i < v->depth; i++) {
        snprintf(name, sizeof name, "%s.blocks.%d", prefix, i);
        vit_block_declare(&v->blocks[i], ps, name, D, c->vision_heads, c->vision_mlp_hidden, c->vision_ln_eps);
    }
    snprintf(name, sizeof name, "%s.norm", prefix);
    layernorm_declare(&v->norm, ps, name, D, c->vision_ln_eps);
}

void vit_free(Vit *v) {
    free(v->blocks);
    v->blocks = NULL;
}

Tensor *vit_forward(const Vit *v, Tensor *images) {
    CHECK(images->ndim == 4 && images->shape[1] == 3 && images->shape[2] == v->image_size &&
              images->shape[3] == v->image_size,
          "vit: images must be [B, 3, %d, %d]", v->image_size, v->image_size);
    int64_t B = images->shape[0], D = v->dim, p = v->patch;

    /* §1.2 step 1: the stride-p convolution is a Linear over flattened patches. */
    Tensor *patches = op_patchify(images, (int)p);                    /* [B, G², 3pp] */
    Tensor *w = op_reshape(v->patch_weight, SHAPE(D, 3 * p * p));
    Tensor *x = op_linear(patches, w, v->patch_bias);                 /* [B, G², D] */

    /* Step 2: prepend the class token (the same row for every image), add positions. */
    Tensor *zeros = tensor_zeros(DTYPE_I32, SHAPE(B)); /* host indices: the op checks and sends them */
    Tensor *cls = op_index_select(op_reshape(v->cls_token, SHAPE(1, D)), 0, zeros);
    Tensor *parts[2] = {op_reshape(cls, SHAPE(B, 1, D)), x};
    x = op_concat(parts, 2, 1);
    x = op_add(x, op_reshape(v->pos_embed, SHAPE(v->tokens, D)));

    for (int i = 0; i < v->depth; i++) x = vit_block_forward(&v->blocks[i], x);
    return layernorm_forward(&v->norm, x);
}

/* Keys' cubic convolution weight with PyTorch's A = -0.75 (§1.3). */
static double cubic_weight(double d) {
    const double A = -0.75;
    d = fabs(d);
    if (d <= 1.0) return ((A + 2.0) * d - (A + 3.0)) * d * d + 1.0;
    if (d < 2.0) return ((A * d - 5.0 * A) * d + 8.0 * A) * d - 4.0 * A;
    return 0.0;
}

/* For each output index: the 4 clamped source indices and their weights. */
static void cubic_taps(int n_old, int n_new, int *idx, double *wt) {
    double scale = (double)n_old / (double)n_new;
    for (int o = 0; o < n_new; o++) {
        double s = (o + 0.5) * scale - 0.5;
        int i0 = (int)floor(s);
        double t = s - i0;
        double dist[4] = {1.0 + t, t, 1.0 - t, 2.0 - t};
        for (int k = 0; k < 4; k++) {
            int i = i0 - 1 + k;
            idx[4 * o + k] = i < 0 ? 0 : (i > n_old - 1 ? n_old - 1 : i);
            wt[4 * o + k] = cubic_weight(dist[k]);
        }
    }
}

void vit_interpolate_pos_embed(const float *src, int g_old, float *dst, int g_new, int dim) {
    for (int c = 0; c < dim; c++) dst[c] = src[c]; /* class row unchanged */
    int *idx = malloc(sizeof(int) * 4 * (size_t)g_new);
    double *wt = malloc(sizeof(double) * 4 * (size_t)g_new);
    double *rows = malloc(sizeof(double) * (size_t)g_new * (size_t)g_old * (size_t)dim);
    CHECK(idx && wt && rows, "out of memory");
    cubic_taps(g_old, g_new, idx, wt);
    const float *grid = src + dim;
    /* Separable: resize along y into rows[y_new][x_old], then along x. */
    for (int y = 0; y < g_new; y++)
        for (int x = 0; x < g_old; x++)
            for (int c = 0; c < dim; c++) {
                double acc = 0.0;
                for (int k = 0; k < 4; k++)
                    acc += wt[4 * y + k] * grid[((size_t)idx[4 * y + k] * g_old + x) * dim + c];
                rows[((size_t)y * g_old + x) * dim + c] = acc;
            }
    for (int y = 0; y < g_new; y++)
        for (int x = 0; x < g_new; x++)
            for (int c = 0; c < dim; c++) {
                double acc = 0.0;
                for (int k = 0; k < 4; k++) acc += wt[4 * x + k] * rows[((size_t)y * g_old + idx[4 * x + k]) * dim + c];
                dst[dim + ((size_t)y * g_new + x) * dim + c] = (float)acc;
            }
    free(idx);
    free(wt);
    free(rows);
}
