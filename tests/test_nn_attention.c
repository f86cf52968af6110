/* attention_heads() against softmax(q kᵀ/√d + mask) v computed per head with
 * plain loops in double (spec/albef_blip.md §1.2, §2.3). */
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "nn/attention.h"
#include "tests/test.h"

enum { AB = 2, AT = 3, AS = 5, AD = 8, AH = 2 };

/* Naive reference: out [B, T, D] and the probabilities [B, H, T, S]. */
static void naive_attention(const float *q, const float *k, const float *v, const float *mask, double *out,
                            double *probs) {
    const int dh = AD / AH;
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < AH; h++)
            for (int t = 0; t < AT; t++) {
                double s[AS], mx = -1e300, z = 0;
                for (int j = 0; j < AS; j++) {
                    double dot = 0;
                    for (int d = 0; d < dh; d++)
                        dot += (double)q[(b * AT + t) * AD + h * dh + d] * k[(b * AS + j) * AD + h * dh + d];
                    s[j] = dot / sqrt((double)dh) + (mask ? mask[b * AS + j] : 0.0);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < AS; j++) z += (s[j] = exp(s[j] - mx));
                for (int j = 0; j < AS; j++) probs[((b * AH + h) * AT + t) * AS + j] = s[j] / z;
                for (int d = 0; d < dh; d++) {
                    double acc = 0;
                    for (int j = 0; j < AS; j++)
                        acc += probs[((b * AH + h) * AT + t) * AS + j] * v[(b * AS + j) * AD + h * dh + d];
                    out[(b * AT + t) * AD + h * dh + d] = acc;
                }
            }
}

/* Sample 1 pads its last two keys; sample 0 keeps all. */
static Tensor *padding_mask(void) {
    int32_t m01[AB * AS] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    return attention_additive_mask(tensor_wrap(DTYPE_I32, SHAPE(AB, AS), m01));
}

static int check_against_naive(Tensor *mask) {
    Tensor *q = tensor_random_uniform(SHAPE(AB, AT, AD), -2.0f, 2.0f, 1);
    Tensor *k = tensor_random_uniform(SHAPE(AB, AS, AD), -2.0f, 2.0f, 2);
    Tensor *v = tensor_random_uniform(SHAPE(AB, AS, AD), -2.0f, 2.0f, 3);
    Tensor *y = attention_heads(q, k, v, mask, AH, NULL);
    double want[AB * AT * AD], probs[AB * AH * AT * AS];
    naive_attention(tensor_f32(q), tensor_f32(k), tensor_f32(v), mask ? tensor_f32(mask) : NULL, want, probs);
    if (y->ndim != 3 || y->shape[0] != AB || y->shape[1] != AT || y->shape[2] != AD)
        return error_set("output shape %lld x %lld x %lld", (long long)y->shape[0], (long long)y->shape[1],
                         (long long)y->shape[2]);
    for (int e = 0; e < AB * AT * AD; e++)
        if (fabs(tensor_f32(y)[e] - want[e]) > 1e-5 + 1e-5 * fabs(want[e]))
            return error_set("element %d: %.8g vs naive %.8g", e, tensor_f32(y)[e], want[e]);
    if (mask) {
        /* Padded keys of sample 1 get ~0 weight in every head and query... */
        for (int h = 0; h < AH; h++)
            for (int t = 0; t < AT; t++)
                for (int j = 3; j < AS; j++)
                    if (probs[((1 * AH + h) * AT + t) * AS + j] > 1e-30)
                        return error_set("padded key %d has weight %g", j, probs[((1 * AH + h) * AT + t) * AS + j]);
        /* ...so changing their keys and values changes nothing in the op's output. */
        for (int j = 3; j < AS; j++)
            for (int d = 0; d < AD; d++) {
                tensor_f32(k)[(1 * AS + j) * AD + d] = 50.0f;
                tensor_f32(v)[(1 * AS + j) * AD + d] = -1000.0f;
            }
        Tensor *y2 = attention_heads(q, k, v, mask, AH, NULL);
        for (int e = 0; e < AB * AT * AD; e++)
            if (fabs(tensor_f32(y2)[e] - tensor_f32(y)[e]) > 1e-6)
                return error_set("padding leaked into element %d: %g vs %g", e, tensor_f32(y2)[e],
                                 tensor_f32(y)[e]);
    }
    return 0;
}

TEST(test_attention_heads_matches_naive_per_head_formula) {
    ASSERT_MSG(check_against_naive(NULL) == 0, "%s", error_message());
}

TEST(test_attention_masks_padding) { ASSERT_MSG(check_against_naive(padding_mask()) == 0, "%s", error_message()); }

TEST(test_attention_additive_mask_is_bert_extended_mask) {
    float m01[4] = {1.0f, 0.0f, 1.0f, 1.0f};
    Tensor *m = attention_additive_mask(tensor_wrap(DTYPE_F32, SHAPE(2, 2), m01));
    ASSERT(m->dtype == DTYPE_F32 && m->ndim == 2 && m->shape[0] == 2 && m->shape[1] == 2);
    ASSERT(tensor_f32(m)[0] == 0.0f && tensor_f32(m)[1] == -10000.0f);
    ASSERT(tensor_f32(m)[2] == 0.0f && tensor_f32(m)[3] == 0.0f);
}

static Tensor *attention_apply(Tensor **in, void *ctx) { return attention_heads(in[0], in[1], in[2], ctx, AH, NULL); }

TEST(test_attention_heads_gradcheck_with_mask) {
    Tensor *in[3] = {
        tensor_random_uniform(SHAPE(AB, AT, AD), -1.0f, 1.0f, 4),
        tensor_random_uniform(SHAPE(AB, AS, AD), -1.0f, 1.0f, 5),
        tensor_random_uniform(SHAPE(AB, AS, AD), -1.0f, 1.0f, 6),
    };
    for (int k = 0; k < 3; k++) in[k]->requires_grad = 1;
    Tensor *mask = padding_mask();
    ASSERT_MSG(gradcheck(attention_apply, in, 3, mask, gradcheck_defaults()) == 0, "%s", error_message());
}

TEST(test_attention_dropout_is_deterministic_and_off_in_eval) {
    Tensor *q = tensor_random_uniform(SHAPE(AB, AT, AD), -1.0f, 1.0f, 7);
    Tensor *k = tensor_random_uniform(SHAPE(AB, AS, AD), -1.0f, 1.0f, 8);
    Tensor *v = tensor_random_uniform(SHAPE(AB, AS, AD), -1.0f, 1.0f, 9);
    const int64_t n = AB * AT * AD;
    Tensor *plain = attention_heads(q, k, v, NULL, AH, NULL);
    DropoutState eval = {.p = 0.5f, .training = 0, .seed = 3, .stream = 0};
    Tensor *y_eval = attention_heads(q, k, v, NULL, AH, &eval);
    ASSERT(memcmp(tensor_f32(plain), tensor_f32(y_eval), (size_t)n * sizeof(float)) == 0);
    ASSERT_EQ_INT(eval.stream, 0);
    DropoutState a = {.p = 0.5f, .training = 1, .seed = 3, .stream = 10};
    DropoutState b = a;
    Tensor *ya = attention_heads(q, k, v, NULL, AH, &a);
    Tensor *yb = attention_heads(q, k, v, NULL, AH, &b);
    ASSERT_EQ_INT(a.stream, 11); /* one dropout call site per attention */
    ASSERT(memcmp(tensor_f32(ya), tensor_f32(yb), (size_t)n * sizeof(float)) == 0);
    Tensor *yc = attention_heads(q, k, v, NULL, AH, &a); /* next stream: a new mask */
    ASSERT(memcmp(tensor_f32(ya), tensor_f32(yc), (size_t)n * sizeof(float)) != 0);
    ASSERT(memcmp(tensor_f32(ya), tensor_f32(plain), (size_t)n * sizeof(float)) != 0);
}
