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

/* node->i layout (the sizes are read off the inputs' shapes: geometry_of). */
enum { AT_SEED, AT_STREAM, AT_ROWS, AT_GLOBAL_ROWS, AT_FIRST_ROW, AT_LAYOUT, AT_HEADS };

/* Where the operands keep their heads: op_attention's q [B, H, T, Dh]; or
 * op_attention_heads' projection rows, q [B, T, H·Dh], k and v [B, S, H·Dh]
 * (separate inputs), or q, k, v side by side in one [B, T, 3·H·Dh] input. */
typedef enum { HEADS_FIRST, HEADS_IN_ROWS, HEADS_PACKED } HeadLayout;

typedef struct {
    HeadLayout kind;
    int64_t B, H, T, S, Dh;
    AttentionLayout rows;        /* for the kernels (autograd/device_kernels.h) */
    int64_t k_offset, v_offset;  /* elements from the start of their input: k and v inside a packed one */
} Geometry;

static Geometry geometry(HeadLayout kind, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh) {
    Geometry g = {.kind = kind, .B = B, .H = H, .T = T, .S = S, .Dh = Dh};
    const int64_t D = H * Dh;
    if (kind == HEADS_FIRST) {
        g.rows.q = g.rows.o = (AttentionRows){H * T * Dh, T * Dh, Dh};
        g.rows.kv = (AttentionRows){H * S * Dh, S * Dh, Dh};
    } else if (kind == HEADS_IN_ROWS) {
        g.rows.q = g.rows.o = (AttentionRows){T * D, Dh, D};
        g.rows.kv = (AttentionRows){S * D, Dh, D};
    } else {
        g.rows.q = g.rows.kv = (AttentionRows){3 * T * D, Dh, 3 * D};
        g.rows.o = (AttentionRows){T * D, Dh, D};
        g.k_offset = D;
        g.v_offset = 2 * D;
    }
    return g;
}

static Geometry geometry_of(const TapeNode *node) {
    const HeadLayout kind = (HeadLayout)node->i[AT_LAYOUT];
    const int64_t *qs = node->in[0]->shape, H = node->i[AT_HEADS];
    if (kind == HEADS_FIRST) return geometry(kind, qs[0], qs[1], qs[2], node->in[1]->shape[2], qs[3]);
    if (kind == HEADS_IN_ROWS) return geometry(kind, qs[0], H, qs[1], node->in[1]->shape[1], qs[2] / H);
    return geometry(kind, qs[0], H, qs[1], qs[1], qs[2] / 3 / H);
}

/* The input holding k (v): the packed one, or the node's second (third). */
static int k_input(const Geometry *g) { return g->kind == HEADS_PACKED ? 0 : 1; }
static int v_input(const Geometry *g) { return g->kind == HEADS_PACKED ? 0 : 2; }

static const void *at_element(const Tensor *t, int64_t offset) {
    return (const char *)t->data + (size_t)offset * dtype_size(t->dtype);
}

static RngRows node_rows(const TapeNode *node) {
    return (RngRows){node->i[AT_ROWS], node->i[AT_GLOBAL_ROWS], node->i[AT_FIRST_ROW]};
}
/* node->f layout. */
enum { AT_SCALE, AT_P, AT_KEEP_SCALE };


/* The kernels write every element of dq, dk and dv once (a packed input's
 * three parts each once), so a gradient nobody has written yet is stored,
 * not added to a zero fill (tape_input_grad_to_overwrite); not when there is
 * no query or key (nothing is written), nor when two separate inputs are one
 * tensor (the kernels' order would then decide which writes first). */
static int stores_gradients(const TapeNode *node, const Geometry *g) {
    if (g->B * g->H * g->T == 0 || g->S == 0) return 0;
    if (g->kind == HEADS_PACKED) return 1;
    return node->in[0] != node->in[1] && node->in[0] != node->in[2] && node->in[1] != node->in[2];
}

static void attention_backward_device(TapeNode *node, const Geometry *g) {
    const int64_t *i = node->i;
    const Tensor *lse = node->saved, *q = node->in[0], *k = node->in[k_input(g)], *v = node->in[v_input(g)];
    Tensor *mask = node->n_in > 3 ? node->in[3] : NULL;
    float *dq, *dk, *dv;
    int q_store = 0, k_store = 0, v_store = 0;
    if (!stores_gradients(node, g)) {
        dq = tape_input_grad(node, 0);
        dk = tape_input_grad(node, k_input(g));
        dv = tape_input_grad(node, v_input(g));
    } else if (g->kind == HEADS_PACKED) { /* one gradient: its three parts */
        dq = dk = dv = tape_input_grad_to_overwrite(node, 0, &q_store);
        k_store = v_store = q_store;
    } else {
        dq = tape_input_grad_to_overwrite(node, 0, &q_store);
        dk = tape_input_grad_to_overwrite(node, 1, &k_store);
        dv = tape_input_grad_to_overwrite(node, 2, &v_store);
    }
    device_kernels(node->out->device, "attention")
        ->attention_backward(q->data, at_element(k, g->k_offset), at_element(v, g->v_offset), node->out->data,
                             node->out->dtype, mask ? tensor_f32(mask) : NULL, tensor_f32(lse), node->out->grad,
                             dq, dk ? dk + g->k_offset : NULL, dv ? dv + g->v_offset : NULL, q_store, k_store,
                             v_store, g->B, g->H, g->T, g->S, g->Dh, &g->rows, node->f[AT_SCALE], node->f[AT_P],
                             (uint64_t)i[AT_SEED], (uint64_t)i[AT_STREAM], node_rows(node));
}

/* [B, H, n, Dh] <-> the rows `r` places (src/dst at their first element):
 * the CPU path runs on heads laid out first, as op_attention, and copies
 * the other layouts in and out, so that it keeps op_attention's arithmetic
 * and bits (a permute's copies are exact). */
static Tensor *gather_heads(const float *src, AttentionRows r, int64_t B, int64_t H, int64_t n, int64_t Dh) {
    Tensor *t = tensor_new(DTYPE_F32, SHAPE(B, H, n, Dh));
    float *dst = tensor_f32(t);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t j = 0; j < n; j++)
                memcpy(dst + ((b * H + h) * n + j) * Dh, src + b * r.batch + h * r.head + j * r.row,
                       (size_t)Dh * sizeof *dst);
    return t;
}

/* dst (+)= the [B, H, n, Dh] src at the rows `r` places. */
static void scatter_heads(float *dst, AttentionRows r, const float *src, int64_t B, int64_t H, int64_t n, int64_t Dh,
                          int accumulate) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t j = 0; j < n; j++) {
                float *d = dst + b * r.batch + h * r.head + j * r.row;
                const float *s = src + ((b * H + h) * n + j) * Dh;
                for (int64_t e = 0; e < Dh; e++) d[e] = accumulate ? d[e] + s[e] : s[e];
            }
}

/* The composed ops' backward, in their order and arithmetic:
 *   dPd = dO vᵀ, dv += Pdᵀ dO              (op_matmul, Pd the dropped probabilities)
 *   dP = dropout(dPd)                        (op_dropout: the same mask and scale)
 *   dZ = P ⊙ (dP − <dP, P>), <.,.> in double (op_softmax)
 *   dZ *= scale                              (op_scale)
 *   dq += dZ k, dk += dZᵀ q                  (op_matmul) */
static void attention_backward_cpu(const TapeNode *node, const Geometry *geo, const float *q, const float *k,
                                   const float *v, const float *g, float *dq, float *dk, float *dv) {
    const int64_t BH = geo->B * geo->H, T = geo->T, S = geo->S, Dh = geo->Dh;
    const float scale = node->f[AT_SCALE], p = node->f[AT_P], keep_scale = node->f[AT_KEEP_SCALE];
    const uint64_t seed = (uint64_t)node->i[AT_SEED], stream = (uint64_t)node->i[AT_STREAM];
    const RngRows rows = node_rows(node);
    const float *P = tensor_f32((Tensor *)node->saved);
    const int64_t n = BH * T * S;

    const float *Pd = P;
    if (p > 0.0f) {
        float *dropped = tensor_f32(tensor_new(DTYPE_F32, SHAPE(BH, T, S)));
        ops_dropout_apply(P, dropped, n, p, keep_scale, seed, stream, rows, geo->H * T * S, 0);
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
    if (p > 0.0f) ops_dropout_apply(dP, dP, n, p, keep_scale, seed, stream, rows, geo->H * T * S, 0);
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

static void attention_backward(TapeNode *node) {
    const Geometry geo = geometry_of(node);
    if (node->out->device != DEVICE_CPU) {
        attention_backward_device(node, &geo);
        return;
    }
    const int64_t B = geo.B, H = geo.H, T = geo.T, S = geo.S, Dh = geo.Dh;
    const float *in_q = tensor_f32(node->in[0]), *in_k = tensor_f32(node->in[k_input(&geo)]) + geo.k_offset,
                *in_v = tensor_f32(node->in[v_input(&geo)]) + geo.v_offset;
    float *dq = tape_input_grad(node, 0), *dk = tape_input_grad(node, k_input(&geo)),
          *dv = tape_input_grad(node, v_input(&geo));
    if (dk) dk += geo.k_offset;
    if (dv) dv += geo.v_offset;
    if (geo.kind == HEADS_FIRST) {
        attention_backward_cpu(node, &geo, in_q, in_k, in_v, node->out->grad, dq, dk, dv);
        return;
    }
    /* The gradients start at zero in heads-first copies, as the split heads'
     * did, and are then added to the inputs' (what the permutes' and the
     * split's backwards added). */
    const AttentionLayout *r = &geo.rows;
    const float *q = tensor_f32(gather_heads(in_q, r->q, B, H, T, Dh));
    const float *k = tensor_f32(gather_heads(in_k, r->kv, B, H, S, Dh));
    const float *v = tensor_f32(gather_heads(in_v, r->kv, B, H, S, Dh));
    const float *g = tensor_f32(gather_heads(node->out->grad, r->o, B, H, T, Dh));
    float *hq = dq ? tensor_f32(tensor_zeros(DTYPE_F32, SHAPE(B, H, T, Dh))) : NULL;
    float *hk = dk ? tensor_f32(tensor_zeros(DTYPE_F32, SHAPE(B, H, S, Dh))) : NULL;
    float *hv = dv ? tensor_f32(tensor_zeros(DTYPE_F32, SHAPE(B, H, S, Dh))) : NULL;
    attention_backward_cpu(node, &geo, q, k, v, g, hq, hk, hv);
    if (dq) scatter_heads(dq, r->q, hq, B, H, T, Dh, 1);
    if (dk) scatter_heads(dk, r->kv, hk, B, H, S, Dh, 1);
    if (dv) scatter_heads(dv, r->kv, hv, B, H, S, Dh, 1);
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

/* The checks every layout shares, the forward and the node. in[] holds q,
 * k, v (k = v = NULL for a packed input); out has the shape out_shape. */
static Tensor *attention_record(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, const Geometry *geo,
                                const int64_t *out_shape, int out_ndim, float scale, float dropout_p, uint64_t seed,
                                uint64_t stream, RngRows rows) {
    const Device dev = q->device;
    const int64_t B = geo->B, H = geo->H, T = geo->T, S = geo->S, Dh = geo->Dh;
    char sm[64];
    CHECK(S > 0, "attention: no keys");
    if (mask) {
        mask = op_to_f32(mask);
        ops_check_float(mask, "attention", "mask");
        CHECK(mask->device == dev, "attention: the mask is on another device than q, k, v");
        CHECK(mask->ndim == 2 && mask->shape[0] == B && mask->shape[1] == S,
              "attention: mask %s, want [%lld, %lld] ([B, S])", tensor_shape_str(mask, sm, sizeof sm), (long long)B,
              (long long)S);
        CHECK(!(mask->requires_grad && autograd_is_enabled()),
              "attention: the mask is a constant here and cannot receive a gradient");
    }
    CHECK(dropout_p >= 0.0f && dropout_p <= 1.0f, "attention: dropout probability %g outside [0, 1]",
          (double)dropout_p);
    /* p == 1 drops everything (op_dropout's convention); the scale must not be inf. */
    float keep_scale = dropout_p < 1.0f ? 1.0f / (1.0f - dropout_p) : 0.0f;
    if (dropout_p > 0.0f) ops_check_rows(q, rows, "attention");

    const Tensor *kt = k ? k : q, *vt = v ? v : q;
    Tensor *out = tensor_new_on(dev, q->dtype, out_ndim, out_shape);
    Tensor *saved;
    if (dev != DEVICE_CPU) {
        saved = tensor_new_on(dev, DTYPE_F32, SHAPE(B, H, T));
        if (B * H * T > 0)
            device_kernels(dev, "attention")
                ->attention_forward(q->data, at_element(kt, geo->k_offset), at_element(vt, geo->v_offset), q->dtype,
                                    mask ? tensor_f32(mask) : NULL, out->data, tensor_f32(saved), B, H, T, S, Dh,
                                    &geo->rows, scale, dropout_p, seed, stream, rows);
    } else if (geo->kind == HEADS_FIRST) {
        saved = attention_forward_cpu(q, k, v, mask, out, scale, dropout_p, keep_scale, seed, stream, rows);
    } else {
        const AttentionLayout *r = &geo->rows;
        Tensor *hq = gather_heads(tensor_f32(q), r->q, B, H, T, Dh);
        Tensor *hk = gather_heads(tensor_f32(kt) + geo->k_offset, r->kv, B, H, S, Dh);
        Tensor *hv = gather_heads(tensor_f32(vt) + geo->v_offset, r->kv, B, H, S, Dh);
        Tensor *ho = tensor_new(DTYPE_F32, SHAPE(B, H, T, Dh));
        saved = attention_forward_cpu(hq, hk, hv, mask, ho, scale, dropout_p, keep_scale, seed, stream, rows);
        scatter_heads(tensor_f32(out), r->o, tensor_f32(ho), B, H, T, Dh, 0);
    }
    TapeNode *node = tape_maybe_record("attention", attention_backward, out, q, k, v, mask);
    if (node) {
        node->saved = saved;
        node->i[AT_SEED] = (int64_t)seed;
        node->i[AT_STREAM] = (int64_t)stream;
        node->i[AT_ROWS] = rows.rows;
        node->i[AT_GLOBAL_ROWS] = rows.global_rows;
        node->i[AT_FIRST_ROW] = rows.first_row;
        node->i[AT_LAYOUT] = geo->kind;
        node->i[AT_HEADS] = H;
        node->f[AT_SCALE] = scale;
        node->f[AT_P] = dropout_p;
        node->f[AT_KEEP_SCALE] = keep_scale;
    }
    return out;
}

/* q, k, v of one type: f32 copies when they differ. */
static void same_type(Tensor **q, Tensor **k, Tensor **v) {
    if ((*q)->dtype == (*k)->dtype && (*q)->dtype == (*v)->dtype) return;
    *q = op_to_f32(*q);
    *k = op_to_f32(*k);
    *v = op_to_f32(*v);
}

Tensor *op_attention_rows(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale, float dropout_p,
                          uint64_t seed, uint64_t stream, RngRows rows) {
    ops_check_float(q, "attention", "q");
    ops_check_float(k, "attention", "k");
    ops_check_float(v, "attention", "v");
    same_type(&q, &k, &v);
    ops_device("attention", q, k, v);
    char sq[64], sk[64], sv[64];
    CHECK(q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && k->shape[0] == q->shape[0] &&
              k->shape[1] == q->shape[1] && k->shape[3] == q->shape[3] &&
              memcmp(k->shape, v->shape, 4 * sizeof *k->shape) == 0,
          "attention: q %s, k %s, v %s: want q [B, H, T, Dh], k and v [B, H, S, Dh]",
          tensor_shape_str(q, sq, sizeof sq), tensor_shape_str(k, sk, sizeof sk), tensor_shape_str(v, sv, sizeof sv));
    const Geometry geo = geometry(HEADS_FIRST, q->shape[0], q->shape[1], q->shape[2], k->shape[2], q->shape[3]);
    return attention_record(q, k, v, mask, &geo, q->shape, 4, scale, dropout_p, seed, stream, rows);
}

Tensor *op_attention(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, float scale, float dropout_p, uint64_t seed,
                     uint64_t stream) {
    return op_attention_rows(q, k, v, mask, scale, dropout_p, seed, stream, RNG_ROWS_ONE);
}

Tensor *op_attention_heads(Tensor *q, Tensor *k, Tensor *v, int n_heads, Tensor *mask, float scale,
                           float dropout_p, uint64_t seed, uint64_t stream, RngRows rows) {
    const int packed = k == NULL && v == NULL;
    ops_check_float(q, "attention", packed ? "qkv" : "q");
    CHECK(packed || (k != NULL && v != NULL), "attention: k and v are both given or both NULL (a packed qkv)");
    if (!packed) {
        ops_check_float(k, "attention", "k");
        ops_check_float(v, "attention", "v");
        same_type(&q, &k, &v);
        ops_device("attention", q, k, v);
    }
    char sq[64], sk[64], sv[64];
    CHECK(n_heads > 0 && q->ndim == 3, "attention: %s %s with %d heads: want [B, T, %sH·Dh]", packed ? "qkv" : "q",
          tensor_shape_str(q, sq, sizeof sq), n_heads, packed ? "3·" : "");
    const int64_t B = q->shape[0], T = q->shape[1], D = packed ? q->shape[2] / 3 : q->shape[2];
    CHECK(D % n_heads == 0 && (!packed || q->shape[2] % 3 == 0), "attention: %s %s: width not %sdivisible by %d heads",
          packed ? "qkv" : "q", tensor_shape_str(q, sq, sizeof sq), packed ? "3 times " : "", n_heads);
    const int64_t out_shape[3] = {B, T, D};
    if (packed) {
        const Geometry geo = geometry(HEADS_PACKED, B, n_heads, T, T, D / n_heads);
        return attention_record(q, NULL, NULL, mask, &geo, out_shape, 3, scale, dropout_p, seed, stream, rows);
    }
    CHECK(k->ndim == 3 && k->shape[0] == B && k->shape[2] == D && v->ndim == 3 &&
              memcmp(k->shape, v->shape, 3 * sizeof *k->shape) == 0,
          "attention: q %s, k %s, v %s: want q [B, T, D], k and v [B, S, D]", tensor_shape_str(q, sq, sizeof sq),
          tensor_shape_str(k, sk, sizeof sk), tensor_shape_str(v, sv, sizeof sv));
    const Geometry geo = geometry(HEADS_IN_ROWS, B, n_heads, T, k->shape[1], D / n_heads);
    return attention_record(q, k, v, mask, &geo, out_shape, 3, scale, dropout_p, seed, stream, rows);
}
