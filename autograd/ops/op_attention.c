/* Scaled dot-product attention as one op:
 *   o = dropout(softmax(q kᵀ·scale + mask)) v
 * q [B, H, T, Dh], k and v [B, H, S, Dh], mask NULL or an additive key mask
 * [B, S] (spec/albef_blip.md §1.2, §2.3).
 *
 * The CPU path is the reference and computes exactly what the composed ops
 * did before this op existed (op_matmul -> op_scale -> op_softmax(mask) ->
 * op_dropout -> op_matmul): the same gemm_f32 calls, op_scale's float
 * product, op_softmax's row (mask added in double; a row whose keys are all
 * -inf falls back to the unmasked softmax) and op_dropout's Philox mask over
 * the [B, H, T, S] probabilities, so models give the same numbers bit for bit.
 * It keeps the probabilities [B, H, T, S] for the backward. The device path
 * (cuda/attention.cu) never stores them: it saves the row log-sum-exp and
 * recomputes them.
 *
 * The mask is a constant (key padding): it receives no gradient.
 *
 * On a device q, k, v and o share one type: bf16 when q, k and v all are
 * (the projections' outputs under --precision bf16, issue 5 Precision), else
 * f32; the mask, the saved log-sum-exp and the gradients are f32. */
#include <math.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/ops/op_rows.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/gemm.h"

#define PAR_MIN 16384 /* elements, as op_softmax */

/* node->i layout (the sizes are read off q [B, H, T, Dh] and k [B, H, S, Dh]). */
enum { AT_SEED, AT_STREAM, AT_ROWS, AT_GLOBAL_ROWS, AT_FIRST_ROW };

static RngRows node_rows(const TapeNode *node) {
    return (RngRows){node->i[AT_ROWS], node->i[AT_GLOBAL_ROWS], node->i[AT_FIRST_ROW]};
}
/* node->f layout. */
enum { AT_SCALE, AT_P, AT_KEEP_SCALE };


static void attention_backward_device(TapeNode *node) {
    const int64_t *i = node->i, *qs = node->in[0]->shape;
    const Tensor *lse = node->saved;
    Tensor *mask = node->n_in > 3 ? node->in[3] : NULL;
    device_kernels(node->out->device, "attention")
        ->attention_backward(node->in[0]->data, node->in[1]->data, node->in[2]->data, node->out->data,
                             node->out->dtype, mask ? tensor_f32(mask) : NULL, tensor_f32(lse),
                             node->out->grad, tape_input_grad(node, 0), tape_input_grad(node, 1),
                             tape_input_grad(node, 2), qs[0], qs[1], qs[2], node->in[1]->shape[2], qs[3],
                             node->f[AT_SCALE], node->f[AT_P], (uint64_t)i[AT_SEED], (uint64_t)i[AT_STREAM],
                             node_rows(node));
}

/* The composed ops' backward, in their order and arithmetic:
 *   dPd = dO vᵀ, dv += Pdᵀ dO              (op_matmul, Pd the dropped probabilities)
 *   dP = dropout(dPd)                        (op_dropout: the same mask and scale)
 *   dZ = P ⊙ (dP − <dP, P>), <.,.> in double (op_softmax)
 *   dZ *= scale                              (op_scale)
 *   dq += dZ k, dk += dZᵀ q                  (op_matmul) */
static void attention_backward(TapeNode *node) {
    if (node->out->device != DEVICE_CPU) {
        attention_backward_device(node);
        return;
    }
    const int64_t *qs = node->in[0]->shape;
    const int64_t BH = qs[0] * qs[1], T = qs[2], S = node->in[1]->shape[2], Dh = qs[3];
    const float scale = node->f[AT_SCALE], p = node->f[AT_P], keep_scale = node->f[AT_KEEP_SCALE];
    const uint64_t seed = (uint64_t)node->i[AT_SEED], stream = (uint64_t)node->i[AT_STREAM];
    const RngRows rows = node_rows(node);
    const float *q = tensor_f32(node->in[0]), *k = tensor_f32(node->in[1]), *v = tensor_f32(node->in[2]);
    const float *P = tensor_f32((Tensor *)node->saved), *g = node->out->grad;
    float *dq = tape_input_grad(node, 0), *dk = tape_input_grad(node, 1), *dv = tape_input_grad(node, 2);
    const int64_t n = BH * T * S;

    const float *Pd = P;
    if (p > 0.0f) {
        float *dropped = tensor_f32(tensor_new(DTYPE_F32, SHAPE(BH, T, S)));
        ops_dropout_apply(P, dropped, n, p, keep_scale, seed, stream, rows, qs[1] * T * S, 0);
        Pd = dropped;
    }
    /* dP starts at zero and receives beta = 1 products, as the composed ops' gradient buffers did. */
    float *dP = tensor_f32(tensor_zeros(DTYPE_F32, SHAPE(BH, T, S)));
    for (int64_t b = 0; b < BH; b++) {
        const float *gb = g + b * T * Dh;
        gemm_f32(0, 1, T, S, Dh, 1.0f, gb, Dh, v + b * S * Dh, Dh, 1.0f, dP + b * T * S, S);
        if (dv) gemm_f32(1, 0, S, Dh, T, 1.0f, Pd + b * T * S, S, gb, Dh, 1.0f, dv + b * S * Dh, Dh);
    }
    if (!dq && !dk) return;
    if (p > 0.0f) ops_dropout_apply(dP, dP, n, p, keep_scale, seed, stream, rows, qs[1] * T * S, 0);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t r = 0; r < BH * T; r++) {
        const float *y = P + r * S;
        float *d = dP + r * S;
        double dot = 0.0;
        for (int64_t j = 0; j < S; j++) dot += (double)d[j] * (double)y[j];
        for (int64_t j = 0; j < S; j++) d[j] = scale * (float)(y[j] * (d[j] - dot));
    }
    for (int64_t b = 0; b < BH; b++) {
        const float *dZ = dP + b * T * S;
        if (dq) gemm_f32(0, 0, T, Dh, S, 1.0f, dZ, S, k + b * S * Dh, Dh, 1.0f, dq + b * T * Dh, Dh);
        if (dk) gemm_f32(1, 0, S, Dh, T, 1.0f, dZ, S, q + b * T * Dh, Dh, 1.0f, dk + b * S * Dh, Dh);
    }
}

/* CPU forward: the composed ops' arithmetic; returns the probabilities P
 * (before dropout) for the backward and writes o. */
static Tensor *attention_forward_cpu(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, Tensor *out, float scale,
                                     float p, float keep_scale, uint64_t seed, uint64_t stream, RngRows rows) {
    const int64_t B = q->shape[0], BH = B * q->shape[1], T = q->shape[2], S = k->shape[2], Dh = q->shape[3];
    const int64_t n = BH * T * S, rows_per_batch = BH / (B ? B : 1) * T;
    Tensor *probs = tensor_new(DTYPE_F32, SHAPE(B, q->shape[1], T, S));
    float *P = tensor_f32(probs);
    const float *qv = tensor_f32(q), *kv = tensor_f32(k), *vv = tensor_f32(v);
    const float *m = mask ? tensor_f32(mask) : NULL;
    for (int64_t b = 0; b < BH; b++)
        gemm_f32(0, 1, T, S, Dh, 1.0f, qv + b * T * Dh, Dh, kv + b * S * Dh, Dh, 0.0f, P + b * T * S, S);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t r = 0; r < BH * T; r++) {
        float *row = P + r * S;
        for (int64_t j = 0; j < S; j++) row[j] = row[j] * scale;
        ops_softmax_row(row, row, m ? m + (r / rows_per_batch) * S : NULL, S);
    }
    const float *Pd = P;
    if (p > 0.0f) {
        float *dropped = tensor_f32(tensor_new(DTYPE_F32, SHAPE(BH, T, S)));
        ops_dropout_apply(P, dropped, n, p, keep_scale, seed, stream, rows, n / (B ? B : 1), 0);
        Pd = dropped;
    }
    float *o = tensor_f32(out);
    for (int64_t b = 0; b < BH; b++)
        gemm_f32(0, 0, T, Dh, S, 1.0f, Pd + b * T * S, S, vv + b * S * Dh, Dh, 0.0f, o + b * T * Dh, Dh);
    return probs;
}

Tensor *op_attention_rows(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale, float dropout_p,
                          uint64_t seed, uint64_t stream, RngRows rows) {
    ops_check_float(q, "attention", "q");
    ops_check_float(k, "attention", "k");
    ops_check_float(v, "attention", "v");
    if (!(q->dtype == k->dtype && k->dtype == v->dtype)) {
        q = op_to_f32(q);
        k = op_to_f32(k);
        v = op_to_f32(v);
    }
    Device dev = ops_device("attention", q, k, v);
    char sq[64], sk[64], sv[64];
    CHECK(q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && k->shape[0] == q->shape[0] &&
              k->shape[1] == q->shape[1] && k->shape[3] == q->shape[3] &&
              memcmp(k->shape, v->shape, 4 * sizeof *k->shape) == 0,
          "attention: q %s, k %s, v %s: want q [B, H, T, Dh], k and v [B, H, S, Dh]",
          tensor_shape_str(q, sq, sizeof sq), tensor_shape_str(k, sk, sizeof sk), tensor_shape_str(v, sv, sizeof sv));
    const int64_t B = q->shape[0], H = q->shape[1], T = q->shape[2], S = k->shape[2], Dh = q->shape[3];
    CHECK(S > 0, "attention: no keys (k %s)", tensor_shape_str(k, sk, sizeof sk));
    if (mask) {
        mask = op_to_f32(mask);
        ops_check_float(mask, "attention", "mask");
        CHECK(mask->device == dev, "attention: the mask is on another device than q, k, v");
        CHECK(mask->ndim == 2 && mask->shape[0] == B && mask->shape[1] == S,
              "attention: mask %s, want [%lld, %lld] ([B, S])", tensor_shape_str(mask, sq, sizeof sq), (long long)B,
              (long long)S);
        CHECK(!(mask->requires_grad && autograd_is_enabled()),
              "attention: the mask is a constant here and cannot receive a gradient");
    }
    CHECK(dropout_p >= 0.0f && dropout_p <= 1.0f, "attention: dropout probability %g outside [0, 1]",
          (double)dropout_p);
    /* p == 1 drops everything (op_dropout's convention); the scale must not be inf. */
    float keep_scale = dropout_p < 1.0f ? 1.0f / (1.0f - dropout_p) : 0.0f;
    if (dropout_p > 0.0f) ops_check_rows(q, rows, "attention");

    Tensor *out = tensor_new_on(dev, q->dtype, 4, q->shape);
    Tensor *saved;
    if (dev != DEVICE_CPU) {
        saved = tensor_new_on(dev, DTYPE_F32, SHAPE(B, H, T));
        if (B * H * T > 0)
            device_kernels(dev, "attention")
                ->attention_forward(q->data, k->data, v->data, q->dtype, mask ? tensor_f32(mask) : NULL, out->data,
                                    tensor_f32(saved), B, H, T, S, Dh, scale, dropout_p, seed, stream, rows);
    } else {
        saved = attention_forward_cpu(q, k, v, mask, out, scale, dropout_p, keep_scale, seed, stream, rows);
    }
    TapeNode *node = tape_maybe_record("attention", attention_backward, out, q, k, v, mask);
    if (node) {
        node->saved = saved;
        node->i[AT_SEED] = (int64_t)seed;
        node->i[AT_STREAM] = (int64_t)stream;
        node->i[AT_ROWS] = rows.rows;
        node->i[AT_GLOBAL_ROWS] = rows.global_rows;
        node->i[AT_FIRST_ROW] = rows.first_row;
        node->f[AT_SCALE] = scale;
        node->f[AT_P] = dropout_p;
        node->f[AT_KEEP_SCALE] = keep_scale;
    }
    return out;
}

Tensor *op_attention(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale, float dropout_p, uint64_t seed,
                     uint64_t stream) {
    return op_attention_rows(q, k, v, mask, scale, dropout_p, seed, stream, RNG_ROWS_ONE);
}
