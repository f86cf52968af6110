/* op_attention on the CPU: finite-difference gradients (with and without a
 * mask, with dropout), and the same numbers, forward and backward, as the
 * composed ops it replaces (op_matmul -> op_scale -> op_softmax(mask) ->
 * op_dropout -> op_matmul), including op_softmax's masked-row conventions
 * and op_dropout's mask; attention_heads() keeps the DropoutState stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "nn/attention.h"
#include "tests/test.h"

typedef struct {
    Tensor *mask;
    float scale, p;
    uint64_t seed, stream;
} AttnCtx;

static Tensor *fused(Tensor **in, void *ctx) {
    const AttnCtx *c = ctx;
    return op_attention(in[0], in[1], in[2], c->mask, c->scale, c->p, c->seed, c->stream);
}

static Tensor *composed(Tensor **in, void *ctx) {
    const AttnCtx *c = ctx;
    Tensor *probs = op_softmax(op_scale(op_matmul(in[0], in[1], 0, 1), c->scale), c->mask);
    if (c->p > 0.0f) probs = op_dropout(probs, c->p, c->seed, c->stream);
    return op_matmul(probs, in[2], 0, 0);
}

/* q [B, H, T, Dh], k and v [B, H, S, Dh], requiring gradients. */
static void make_qkv(Tensor **in, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, float range,
                     uint64_t seed) {
    in[0] = tensor_random_uniform(SHAPE(B, H, T, Dh), -range, range, seed);
    in[1] = tensor_random_uniform(SHAPE(B, H, S, Dh), -range, range, seed + 1);
    in[2] = tensor_random_uniform(SHAPE(B, H, S, Dh), -range, range, seed + 2);
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
}

/* Output and q, k, v gradients of one run (malloc'd), from a fixed upstream gradient. */
typedef struct {
    float *v[4];
    int64_t n[4];
} Run;

static Run run_once(Tensor *(*fn)(Tensor **, void *), Tensor **in, void *ctx) {
    Run r;
    for (int i = 0; i < 3; i++) in[i]->grad = NULL;
    Tensor *out = fn(in, ctx);
    Tensor *up = tensor_random_uniform(out->ndim, out->shape, -1.0f, 1.0f, 99);
    autograd_backward_with(out, tensor_f32(up));
    for (int i = 0; i < 4; i++) {
        const Tensor *t = i == 0 ? out : in[i - 1];
        r.n[i] = tensor_numel(t);
        r.v[i] = malloc((size_t)r.n[i] * sizeof(float));
        memcpy(r.v[i], i == 0 ? tensor_f32(t) : t->grad, (size_t)r.n[i] * sizeof(float));
    }
    tape_clear();
    for (int i = 0; i < 3; i++) in[i]->grad = NULL;
    return r;
}

static void run_free(Run *r) {
    for (int i = 0; i < 4; i++) free(r->v[i]);
}

/* Fused against composed: bit for bit (the op's contract), which implies the
 * issue's 1e-6. */
static int check_against_composed(const char *what, int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh,
                                  Tensor *mask, float p) {
    Tensor *in[3];
    make_qkv(in, B, H, T, S, Dh, 2.0f, 10);
    AttnCtx ctx = {mask, (float)(1.0 / sqrt((double)Dh)), p, 77, 5};
    Run a = run_once(fused, in, &ctx), b = run_once(composed, in, &ctx);
    static const char *const names[4] = {"output", "dq", "dk", "dv"};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        for (int64_t e = 0; e < a.n[i]; e++)
            if (memcmp(&a.v[i][e], &b.v[i][e], sizeof(float)) != 0) {
                rc = error_set("%s: %s element %lld: fused %.9g vs composed %.9g", what, names[i], (long long)e,
                               a.v[i][e], b.v[i][e]);
                break;
            }
    run_free(&a);
    run_free(&b);
    return rc;
}

/* [B, S] additive mask: sample b keeps its first keep[b] keys, the rest get `pad`. */
static Tensor *key_mask(int64_t B, int64_t S, const int *keep, float pad) {
    Tensor *m = tensor_new(DTYPE_F32, SHAPE(B, S));
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) tensor_f32(m)[b * S + s] = s < keep[b] ? 0.0f : pad;
    return m;
}

TEST(test_attention_op_matches_composed_ops_without_mask) {
    ASSERT_MSG(check_against_composed("self", 2, 2, 7, 7, 8, NULL, 0.0f) == 0, "%s", error_message());
    ASSERT_MSG(check_against_composed("cross", 2, 3, 5, 11, 4, NULL, 0.0f) == 0, "%s", error_message());
    ASSERT_MSG(check_against_composed("one key", 1, 1, 1, 1, 4, NULL, 0.0f) == 0, "%s", error_message());
}

TEST(test_attention_op_matches_composed_ops_with_padding_masks) {
    /* Sample 1 is all padding: op_softmax gives it softmax(scores) (mask added in double). */
    const int keep[3] = {6, 0, 3};
    ASSERT_MSG(check_against_composed("-10000 pad", 3, 2, 5, 9, 8, key_mask(3, 9, keep, -10000.0f), 0.0f) == 0, "%s",
               error_message());
    /* An all -inf row falls back to the unmasked softmax. */
    ASSERT_MSG(check_against_composed("-inf pad", 3, 2, 5, 9, 8, key_mask(3, 9, keep, -INFINITY), 0.0f) == 0, "%s",
               error_message());
}

TEST(test_attention_op_matches_composed_ops_with_dropout) {
    const int keep[2] = {4, 9};
    ASSERT_MSG(check_against_composed("dropout", 2, 2, 6, 9, 8, NULL, 0.1f) == 0, "%s", error_message());
    ASSERT_MSG(check_against_composed("dropout, mask", 2, 2, 6, 9, 8, key_mask(2, 9, keep, -10000.0f), 0.3f) == 0,
               "%s", error_message());
    ASSERT_MSG(check_against_composed("p = 1", 2, 1, 3, 4, 4, NULL, 1.0f) == 0, "%s", error_message());
}

TEST(test_attention_op_all_inf_mask_row_gives_unmasked_softmax) {
    Tensor *in[3];
    make_qkv(in, 2, 2, 3, 5, 4, 1.0f, 20);
    const int keep[2] = {2, 0};
    Tensor *masked = op_attention(in[0], in[1], in[2], key_mask(2, 5, keep, -INFINITY), 0.5f, 0.0f, 0, 0);
    Tensor *plain = op_attention(in[0], in[1], in[2], NULL, 0.5f, 0.0f, 0, 0);
    tape_clear();
    const int64_t half = 2 * 3 * 4; /* [H, T, Dh] of one sample */
    ASSERT(memcmp(tensor_f32(masked) + half, tensor_f32(plain) + half, half * sizeof(float)) == 0);
    ASSERT(memcmp(tensor_f32(masked), tensor_f32(plain), half * sizeof(float)) != 0); /* sample 0 is masked */
}

static int gradcheck_case(Tensor *mask, float p) {
    Tensor *in[3];
    make_qkv(in, 2, 2, 3, 5, 4, 1.0f, 30);
    AttnCtx ctx = {mask, 0.5f, p, 3, 8};
    int rc = gradcheck(fused, in, 3, &ctx, gradcheck_defaults());
    tape_clear();
    return rc;
}

TEST(test_attention_op_gradcheck) { ASSERT_MSG(gradcheck_case(NULL, 0.0f) == 0, "%s", error_message()); }

TEST(test_attention_op_gradcheck_with_mask) {
    const int keep[2] = {3, 5};
    ASSERT_MSG(gradcheck_case(key_mask(2, 5, keep, -10000.0f), 0.0f) == 0, "%s", error_message());
}

TEST(test_attention_op_gradcheck_with_dropout) {
    const int keep[2] = {5, 2};
    ASSERT_MSG(gradcheck_case(NULL, 0.3f) == 0, "%s", error_message());
    ASSERT_MSG(gradcheck_case(key_mask(2, 5, keep, -10000.0f), 0.3f) == 0, "%s", error_message());
}

/* attention_heads() with training dropout draws the mask the composed
 * pipeline drew (dropout_forward on the [B, H, T, S] probabilities): same
 * seed, the stream advanced once per call. */
TEST(test_attention_heads_dropout_draws_the_composed_ops_mask) {
    enum { B = 2, T = 4, S = 6, D = 8, H = 2 };
    Tensor *q = tensor_random_uniform(SHAPE(B, T, D), -1.0f, 1.0f, 40);
    Tensor *k = tensor_random_uniform(SHAPE(B, S, D), -1.0f, 1.0f, 41);
    Tensor *v = tensor_random_uniform(SHAPE(B, S, D), -1.0f, 1.0f, 42);
    const int keep[B] = {6, 4};
    Tensor *mask = key_mask(B, S, keep, -10000.0f);
    DropoutState st = {.p = 0.25f, .training = 1, .seed = 9, .stream = 3};
    Tensor *got = attention_heads(q, k, v, mask, H, &st);
    ASSERT_EQ_INT(st.stream, 4);

    const int perm[4] = {0, 2, 1, 3};
    Tensor *hs[3] = {op_permute(op_reshape(q, SHAPE(B, T, H, D / H)), perm),
                     op_permute(op_reshape(k, SHAPE(B, S, H, D / H)), perm),
                     op_permute(op_reshape(v, SHAPE(B, S, H, D / H)), perm)};
    AttnCtx ctx = {mask, (float)(1.0 / sqrt((double)(D / H))), 0.25f, 9, 3};
    Tensor *want = op_reshape(op_permute(composed(hs, &ctx), perm), SHAPE(B, T, D));
    ASSERT(memcmp(tensor_f32(got), tensor_f32(want), (size_t)B * T * D * sizeof(float)) == 0);
}
