#include "tests/attention_heads_cases.h"

#include <math.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"

enum { CASE_SEED = 1234, CASE_STREAM = 17 };

AttentionHeadsCase attention_heads_case(int packed, int masked, float p) {
    return (AttentionHeadsCase){
        .packed = packed, .B = 2, .H = 2, .T = 5, .S = packed ? 5 : 7, .Dh = 16, .masked = masked, .p = p};
}

int attention_heads_case_grads(const AttentionHeadsCase *c) { return c->packed ? 1 : 3; }

int attention_heads_case_inputs(const AttentionHeadsCase *c, Tensor **in) {
    const int64_t D = c->H * c->Dh;
    if (c->packed) {
        in[0] = tensor_random_uniform(SHAPE(c->B, c->T, 3 * D), -2.0f, 2.0f, 60);
    } else {
        in[0] = tensor_random_uniform(SHAPE(c->B, c->T, D), -2.0f, 2.0f, 61);
        in[1] = tensor_random_uniform(SHAPE(c->B, c->S, D), -2.0f, 2.0f, 62);
        in[2] = tensor_random_uniform(SHAPE(c->B, c->S, D), -2.0f, 2.0f, 63);
    }
    int n = attention_heads_case_grads(c);
    for (int i = 0; i < n; i++) in[i]->requires_grad = 1;
    if (!c->masked) return n;
    Tensor *mask = tensor_new(DTYPE_F32, SHAPE(c->B, c->S));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t s = 0; s < c->S; s++) tensor_f32(mask)[b * c->S + s] = b == 1 && s >= 3 ? -10000.0f : 0.0f;
    in[n] = mask;
    return n + 1;
}

static float case_scale(const AttentionHeadsCase *c) { return (float)(1.0 / sqrt((double)c->Dh)); }

static Tensor *case_mask(const AttentionHeadsCase *c, Tensor **in) {
    return c->masked ? in[attention_heads_case_grads(c)] : NULL;
}

Tensor *attention_heads_in_place(Tensor **in, void *ctx) {
    const AttentionHeadsCase *c = ctx;
    return op_attention_heads(in[0], c->packed ? NULL : in[1], c->packed ? NULL : in[2], (int)c->H, case_mask(c, in),
                              case_scale(c), c->p, CASE_SEED, CASE_STREAM, RNG_ROWS_ONE);
}

static const int HEADS_PERM[4] = {0, 2, 1, 3};

/* [B, n, H·Dh] -> [B, H, n, Dh] */
static Tensor *split_heads(Tensor *x, const AttentionHeadsCase *c) {
    return op_permute(op_reshape(x, SHAPE(c->B, x->shape[1], c->H, c->Dh)), HEADS_PERM);
}

Tensor *attention_heads_split_and_merged(Tensor **in, void *ctx) {
    const AttentionHeadsCase *c = ctx;
    const int64_t D = c->H * c->Dh;
    Tensor *q = in[0], *k = c->packed ? NULL : in[1], *v = c->packed ? NULL : in[2];
    if (c->packed) {
        Tensor *parts[3];
        op_split(in[0], 2, (const int64_t[]){D, D, D}, 3, parts);
        q = parts[0], k = parts[1], v = parts[2];
    }
    Tensor *o = op_attention_rows(split_heads(q, c), split_heads(k, c), split_heads(v, c), case_mask(c, in),
                                  case_scale(c), c->p, CASE_SEED, CASE_STREAM, RNG_ROWS_ONE);
    return op_permute_to(o, HEADS_PERM, SHAPE(c->B, c->T, D));
}
