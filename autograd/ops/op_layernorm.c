/* Normalisations over the last dim: LayerNorm (PyTorch nn.LayerNorm: biased
 * variance, eps inside the square root, optional affine weight and bias) and
 * L2 normalisation (F.normalize: x / max(‖x‖₂, eps)), used by ALBEF's
 * contrastive projections.
 *
 * LayerNorm saves each row's mean and 1/σ, so backward does not redo the
 * statistics. With x̂ = (x - μ)/σ and ĝ = g ⊙ w:
 *   dx = (ĝ - mean(ĝ) - x̂ · mean(ĝ ⊙ x̂)) / σ,  dw = Σ_rows g ⊙ x̂,  db = Σ_rows g.
 *
 * On a device the kernels of autograd/device_kernels.h (layernorm_*,
 * l2_normalize_*) do the same, with the saved statistics in device memory. */
#include <math.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/error.h"

#define PAR_MIN 16384

static void check_f32(const Tensor *t, const char *op) {
    CHECK(t->dtype == DTYPE_F32 && tensor_is_contiguous(t), "%s: needs contiguous f32 tensors", op);
}

static void check_affine(const Tensor *p, int64_t C, const char *what) {
    if (!p) return;
    check_f32(p, "layernorm");
    CHECK(p->ndim == 1 && p->shape[0] == C, "layernorm: %s must be [%lld]", what, (long long)C);
}

typedef struct {
    float *mean, *rstd; /* [rows] each */
    /* op_add_layernorm on a device: the sum's node, whose work the norm's
     * backward does in its own pass (add_sum_backward); NULL otherwise. */
    TapeNode *sum_node;
} LayerNormSaved;

enum { SUM_PASSED_ON = 0 }; /* the sum node's i[]: its gradient already went to x and a */

/* One row of the CPU forward, shared by op_layernorm and op_add_layernorm so
 * the fused op stays bit-identical to add + LayerNorm. Two passes in double:
 * no cancellation in E[x²] - E[x]². mean/rstd: where to save the statistics
 * for the backward, or NULL. */
static void layernorm_row(const float *xr, const float *w, const float *b, float *yr, int64_t C, float eps,
                          float *mean, float *rstd) {
    double mu = 0.0, var = 0.0;
    for (int64_t j = 0; j < C; j++) mu += xr[j];
    mu /= (double)C;
    for (int64_t j = 0; j < C; j++) var += ((double)xr[j] - mu) * ((double)xr[j] - mu);
    var /= (double)C;
    double rs = 1.0 / sqrt(var + (double)eps);
    for (int64_t j = 0; j < C; j++) {
        double v = ((double)xr[j] - mu) * rs;
        if (w) v *= w[j];
        if (b) v += b[j];
        yr[j] = (float)v;
    }
    if (mean) {
        *mean = (float)mu;
        *rstd = (float)rs;
    }
}

static void layernorm_backward(TapeNode *node) {
    int64_t C = node->i[0], rows = node->i[1];
    const LayerNormSaved *st = node->saved;
    const float *x = tensor_f32(node->in[0]), *g = node->out->grad;
    const float *w = node->in[1] ? tensor_f32(node->in[1]) : NULL;
    float *dw = node->n_in > 1 ? tape_input_grad(node, 1) : NULL;
    float *db = node->n_in > 2 ? tape_input_grad(node, 2) : NULL;
    if (st->sum_node != NULL) {
        /* The sum's readers other than this norm were recorded after it, so
         * their backwards have run: s's gradient so far (NULL if none wrote
         * one) plus this norm's part is all of it, and goes straight to the
         * sum's inputs; the sum's node then has nothing left to do. */
        TapeNode *sum = st->sum_node;
        int x_store, a_store;
        float *dx_sum = tape_input_grad_to_overwrite(sum, 0, &x_store);
        float *da_sum = tape_input_grad_to_overwrite(sum, 1, &a_store);
        device_kernels(node->out->device, "add_layernorm")
            ->add_layernorm_backward(x, w, st->mean, st->rstd, g, node->in[0]->grad, dx_sum, x_store, da_sum,
                                     a_store, dw, db, rows, C);
        sum->i[SUM_PASSED_ON] = 1;
        return;
    }
    float *dx = tape_input_grad(node, 0);
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "layernorm")
            ->layernorm_backward(x, w, st->mean, st->rstd, g, dx, dw, db, rows, C);
        return;
    }
    if (dx) {
#pragma omp parallel for if (rows * C > PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * C, *gr = g + r * C;
            double mu = st->mean[r], rs = st->rstd[r];
            double sum_g = 0.0, sum_gx = 0.0;
            for (int64_t j = 0; j < C; j++) {
                double gh = (double)gr[j] * (w ? (double)w[j] : 1.0);
                sum_g += gh;
                sum_gx += gh * ((double)xr[j] - mu) * rs;
            }
            double mean_g = sum_g / (double)C, mean_gx = sum_gx / (double)C;
            for (int64_t j = 0; j < C; j++) {
                double gh = (double)gr[j] * (w ? (double)w[j] : 1.0);
                double xh = ((double)xr[j] - mu) * rs;
                dx[r * C + j] += (float)(rs * (gh - mean_g - xh * mean_gx));
            }
        }
    }
    if (dw || db) {
        /* Threads split the columns; rows are summed in order (deterministic). */
        enum { BLOCK = 64 };
        int64_t nblocks = (C + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (rows * C > PAR_MIN && nblocks > 1)
        for (int64_t jb = 0; jb < nblocks; jb++) {
            int64_t j0 = jb * BLOCK, j1 = j0 + BLOCK < C ? j0 + BLOCK : C;
            double aw[BLOCK] = {0}, ab[BLOCK] = {0};
            for (int64_t r = 0; r < rows; r++) {
                const float *xr = x + r * C, *gr = g + r * C;
                double mu = st->mean[r], rs = st->rstd[r];
                for (int64_t j = j0; j < j1; j++) {
                    aw[j - j0] += (double)gr[j] * ((double)xr[j] - mu) * rs;
                    ab[j - j0] += gr[j];
                }
            }
            for (int64_t j = j0; j < j1; j++) {
                if (dw) dw[j] += (float)aw[j - j0];
                if (db) db[j] += (float)ab[j - j0];
            }
        }
    }
}

/* y = LayerNorm(in[0]) again, without the statistics, for both norms' nodes
 * (op_add_layernorm's takes the saved sum): the fused pass computes its norm
 * as this one does on the same f32 sum, so the bits are the forward's. */
static void layernorm_recompute(TapeNode *node) {
    const Tensor *x = node->in[0], *weight = node->in[1], *bias = node->in[2];
    const float *xv = tensor_f32(x), *w = weight ? tensor_f32(weight) : NULL, *b = bias ? tensor_f32(bias) : NULL;
    const float eps = node->f[0];
    const int64_t C = node->i[0], rows = node->i[1];
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "layernorm")
            ->layernorm_forward(xv, w, b, node->out->data, node->out->dtype, NULL, NULL, rows, C, eps);
        return;
    }
    float *y = tensor_f32(node->out);
#pragma omp parallel for if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) layernorm_row(xv + r * C, w, b, y + r * C, C, eps, NULL, NULL);
}

/* The output's storage type: f32, or bf16 on a device (a norm read only by
 * products; its backward reads x, never y, so nothing reads the f32 values). */
static void check_out_type(DType out_type, Device dev, const char *op) {
    CHECK(out_type == DTYPE_F32 || (out_type == DTYPE_BF16 && dev != DEVICE_CPU),
          "%s: the output is f32, or bf16 on a device, not %s", op, dtype_name(out_type));
}

Tensor *op_layernorm(Tensor *x, Tensor *weight, Tensor *bias, float eps) {
    return op_layernorm_to(x, weight, bias, eps, DTYPE_F32);
}

Tensor *op_layernorm_to(Tensor *x, Tensor *weight, Tensor *bias, float eps, DType out_type) {
    x = op_to_f32(x);
    check_f32(x, "layernorm");
    CHECK(x->ndim >= 1 && eps >= 0.0f, "layernorm: needs a tensor with dims and eps >= 0");
    int64_t C = x->shape[x->ndim - 1], rows = tensor_rows(x);
    check_affine(weight, C, "weight");
    check_affine(bias, C, "bias");
    Device dev = ops_device("layernorm", x, weight, bias);
    check_out_type(out_type, dev, "layernorm");
    Tensor *out = tensor_new_on(dev, out_type, x->ndim, x->shape);
    const float *xv = tensor_f32(x);
    const float *w = weight ? tensor_f32(weight) : NULL, *b = bias ? tensor_f32(bias) : NULL;
    Tensor *ins[3] = {x, weight, bias};
    LayerNormSaved *st = NULL;
    if (tape_needs_grad(ins, 3)) {
        st = arena_alloc_zero(arena_activations(), sizeof *st);
        st->mean = arena_alloc(arena_activations_on(dev), (size_t)rows * sizeof(float));
        st->rstd = arena_alloc(arena_activations_on(dev), (size_t)rows * sizeof(float));
    }
    if (dev != DEVICE_CPU) {
        device_kernels(dev, "layernorm")
            ->layernorm_forward(xv, w, b, out->data, out_type, st ? st->mean : NULL, st ? st->rstd : NULL, rows, C,
                                eps);
    } else {
        float *y = tensor_f32(out);
#pragma omp parallel for if (rows * C > PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            layernorm_row(xv + r * C, w, b, y + r * C, C, eps, st ? st->mean + r : NULL, st ? st->rstd + r : NULL);
    }
    TapeNode *node = tape_maybe_record("layernorm", layernorm_backward, out, x, weight, bias, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_IN(0) | TAPE_READS_IN(1); /* x and the weight, not y */
        node->recompute = layernorm_recompute;
        node->saved = st;
        node->f[0] = eps;
        node->i[0] = C;
        node->i[1] = rows;
    }
    return out;
}

/* ---- the residual add and LayerNorm in one pass ---- */

/* The sum's node: s = x + a sends its gradient to both, as op_add's; on a
 * device the norm's backward has already done so (add_layernorm_backward),
 * unless no gradient reached the norm's output. */
static void add_sum_backward(TapeNode *node) {
    if (node->i[SUM_PASSED_ON]) return;
    const float *g = node->out->grad;
    int64_t n = tensor_numel(node->out);
    if (node->out->device != DEVICE_CPU) {
        const Tensor *x = node->in[0], *a = node->in[1];
        int x_store, a_store;
        float *dx = tape_input_grad_to_overwrite(node, 0, &x_store), *da = tape_input_grad_to_overwrite(node, 1, &a_store);
        device_kernels(node->out->device, "add_layernorm")
            ->binary_backward(BINARY_ADD, x->data, x->dtype, a->data, a->dtype, g, dx, x_store, da, a_store, n, n);
        return;
    }
    float *dx = tape_input_grad(node, 0), *da = tape_input_grad(node, 1);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t k = 0; k < n; k++) {
        if (dx) dx[k] += g[k];
        if (da) da[k] += g[k];
    }
}

Tensor *op_add_layernorm(Tensor *x, Tensor *a, Tensor *weight, Tensor *bias, float eps, Tensor **sum) {
    return op_add_layernorm_to(x, a, weight, bias, eps, sum, DTYPE_F32);
}

Tensor *op_add_layernorm_to(Tensor *x, Tensor *a, Tensor *weight, Tensor *bias, float eps, Tensor **sum,
                            DType out_type) {
    /* The fused pass covers the transformer's case: an f32 residual stream
     * plus a branch of its shape; anything else is the two ops. */
    if (x->dtype != DTYPE_F32 || !tensor_is_contiguous(x) || !tensor_is_contiguous(a) || !tensor_same_shape(x, a) ||
        (a->dtype != DTYPE_F32 && a->dtype != DTYPE_BF16)) {
        Tensor *s = op_add(x, a);
        if (sum) *sum = s;
        return op_layernorm_to(s, weight, bias, eps, out_type);
    }
    CHECK(x->ndim >= 1 && eps >= 0.0f, "add_layernorm: needs a tensor with dims and eps >= 0");
    int64_t C = x->shape[x->ndim - 1], rows = tensor_rows(x);
    check_affine(weight, C, "weight");
    check_affine(bias, C, "bias");
    Device dev = ops_device("add_layernorm", x, a, weight);
    CHECK(ops_device("add_layernorm", x, bias, NULL) == dev, "add_layernorm: bias on another device");
    check_out_type(out_type, dev, "add_layernorm");
    Tensor *s = tensor_new_on(dev, DTYPE_F32, x->ndim, x->shape);
    Tensor *out = tensor_new_on(dev, out_type, x->ndim, x->shape);
    const float *w = weight ? tensor_f32(weight) : NULL, *b = bias ? tensor_f32(bias) : NULL;
    Tensor *ins[4] = {x, a, weight, bias};
    LayerNormSaved *st = NULL;
    if (tape_needs_grad(ins, 4)) {
        st = arena_alloc_zero(arena_activations(), sizeof *st);
        st->mean = arena_alloc(arena_activations_on(dev), (size_t)rows * sizeof(float));
        st->rstd = arena_alloc(arena_activations_on(dev), (size_t)rows * sizeof(float));
    }
    if (dev != DEVICE_CPU) {
        device_kernels(dev, "add_layernorm")
            ->add_layernorm_forward(tensor_f32(x), a->data, a->dtype, w, b, tensor_f32(s), out->data, out_type,
                                    st ? st->mean : NULL, st ? st->rstd : NULL, rows, C, eps);
    } else {
        const float *xv = tensor_f32(x), *av = tensor_f32(a);
        float *sv = tensor_f32(s), *y = tensor_f32(out);
#pragma omp parallel for if (rows * C > PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            float *sr = sv + r * C;
            for (int64_t j = 0; j < C; j++) sr[j] = xv[r * C + j] + av[r * C + j];
            layernorm_row(sr, w, b, y + r * C, C, eps, st ? st->mean + r : NULL, st ? st->rstd + r : NULL);
        }
    }
    /* Two nodes, as op_add then op_layernorm record: the norm's backward
     * fills s's gradient, then the sum's passes it on. */
    TapeNode *sum_node = tape_maybe_record("add_layernorm.sum", add_sum_backward, s, x, a, NULL, NULL);
    if (sum_node) sum_node->backward_reads = TAPE_READS_NONE; /* x and a are not read again */
    TapeNode *node = tape_maybe_record("add_layernorm", layernorm_backward, out, s, weight, bias, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_IN(0) | TAPE_READS_IN(1); /* s and the weight */
        node->recompute = layernorm_recompute;
        if (dev != DEVICE_CPU) st->sum_node = sum_node;
        node->saved = st;
        node->f[0] = eps;
        node->i[0] = C;
        node->i[1] = rows;
    }
    if (sum) *sum = s;
    return out;
}

/* ---- L2 normalisation ---- */

/* With d = max(‖x‖, eps): where ‖x‖ > eps, y = x/‖x‖ and dx = (g - y <y, g>)/‖x‖
 * (the projection removing the radial part); where clamped, y = x/eps and
 * dx = g/eps. */
static void l2_normalize_backward(TapeNode *node) {
    int64_t C = node->i[0], rows = node->i[1];
    float eps = node->f[0];
    const float *norms = node->saved;
    const float *y = tensor_f32(node->out), *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    if (node->out->device != DEVICE_CPU) {
        if (dx)
            device_kernels(node->out->device, "l2_normalize")
                ->l2_normalize_backward(tensor_f32(node->in[0]), y, norms, g, dx, rows, C, eps);
        return;
    }
#pragma omp parallel for if (rows * C > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * C, *gr = g + r * C;
        double n = norms[r];
        if (n > eps) {
            double dot = 0.0;
            for (int64_t j = 0; j < C; j++) dot += (double)yr[j] * (double)gr[j];
            for (int64_t j = 0; j < C; j++) dx[r * C + j] += (float)(((double)gr[j] - yr[j] * dot) / n);
        } else {
            for (int64_t j = 0; j < C; j++) dx[r * C + j] += (float)((double)gr[j] / (double)eps);
        }
    }
}

Tensor *op_l2_normalize(Tensor *x, float eps) {
    x = op_to_f32(x);
    check_f32(x, "l2_normalize");
    CHECK(x->ndim >= 1 && eps > 0.0f, "l2_normalize: needs a tensor with dims and eps > 0");
    int64_t C = x->shape[x->ndim - 1], rows = tensor_rows(x);
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, x->ndim, x->shape);
    const float *xv = tensor_f32(x);
    float *y = tensor_f32(out);
    float *norms = tape_needs_grad(&x, 1)
                       ? arena_alloc(arena_activations_on(x->device), (size_t)rows * sizeof(float))
                       : NULL;
    if (x->device != DEVICE_CPU) {
        device_kernels(x->device, "l2_normalize")->l2_normalize_forward(xv, y, norms, rows, C, eps);
    } else {
#pragma omp parallel for if (rows * C > PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = xv + r * C;
            double s = 0.0;
            for (int64_t j = 0; j < C; j++) s += (double)xr[j] * (double)xr[j];
            double n = sqrt(s), d = n > eps ? n : (double)eps;
            for (int64_t j = 0; j < C; j++) y[r * C + j] = (float)((double)xr[j] / d);
            if (norms) norms[r] = (float)n;
        }
    }
    TapeNode *node = tape_maybe_record("l2_normalize", l2_normalize_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->saved = norms;
        node->f[0] = eps;
        node->i[0] = C;
        node->i[1] = rows;
    }
    return out;
}
