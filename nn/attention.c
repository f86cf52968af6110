/* Multi-head scaled dot-product attention: the heads split and merged around
 * the fused op_attention (spec/albef_blip.md §1.2 for the ViT, §2.3 for
 * BERT's self- and cross-attention). */
#include "nn/attention.h"

#include <math.h>

#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"

/* Probability dropout draws its mask as dropout_forward() would on the
 * [B, H, T, S] probabilities: same (seed, stream), and the stream advances
 * only when dropout is active, so masks match the composed ops'. */
static float dropout_draw(DropoutState *dropout, uint64_t *seed, uint64_t *stream) {
    *seed = *stream = 0;
    if (!(dropout && dropout->training && dropout->p > 0.0f)) return 0.0f;
    *seed = dropout->seed;
    *stream = dropout->stream++;
    return dropout->p;
}

static void check_mask(const Tensor *mask, int64_t B, int64_t S) {
    if (mask)
        CHECK(mask->dtype == DTYPE_F32 && mask->ndim == 2 && mask->shape[0] == B && mask->shape[1] == S,
              "attention: the additive mask must be f32 [%lld, %lld]", (long long)B, (long long)S);
}

/* The heads stay where the projections put them (op_attention_heads): no
 * split or merge copies, and the output is the merged [B, T, D] itself.
 * Scale after the product, as both timm and Hugging Face BERT do. */
Tensor *attention_heads(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, int n_heads, DropoutState *dropout) {
    CHECK(q->ndim == 3 && k->ndim == 3 && v->ndim == 3, "attention: q, k, v must be [B, T, D]");
    const int64_t B = q->shape[0], T = q->shape[1], D = q->shape[2], S = k->shape[1];
    CHECK(n_heads > 0 && D % n_heads == 0, "attention: width %lld not divisible by %d heads", (long long)D,
          n_heads);
    CHECK(k->shape[0] == B && v->shape[0] == B && k->shape[2] == D && v->shape[2] == D && v->shape[1] == S,
          "attention: q [%lld, %lld, %lld], k and v must be [%lld, S, %lld]", (long long)B, (long long)T,
          (long long)D, (long long)B, (long long)D);
    check_mask(mask, B, S);
    uint64_t seed, stream;
    float p = dropout_draw(dropout, &seed, &stream);
    return op_attention_heads(q, k, v, n_heads, mask, (float)(1.0 / sqrt((double)(D / n_heads))), p, seed, stream,
                              dropout_batch_rows());
}

Tensor *attention_heads_packed(Tensor *qkv, Tensor *mask, int n_heads, DropoutState *dropout) {
    CHECK(qkv->ndim == 3 && qkv->shape[2] % 3 == 0, "attention: a packed qkv must be [B, T, 3·D]");
    const int64_t D = qkv->shape[2] / 3;
    CHECK(n_heads > 0 && D % n_heads == 0, "attention: width %lld not divisible by %d heads", (long long)D,
          n_heads);
    check_mask(mask, qkv->shape[0], qkv->shape[1]);
    uint64_t seed, stream;
    float p = dropout_draw(dropout, &seed, &stream);
    return op_attention_heads(qkv, NULL, NULL, n_heads, mask, (float)(1.0 / sqrt((double)(D / n_heads))), p, seed,
                              stream, dropout_batch_rows());
}

Tensor *attention_additive_mask(Tensor *mask01) {
    CHECK(mask01->ndim == 2 && (mask01->dtype == DTYPE_I32 || mask01->dtype == DTYPE_F32),
          "attention mask must be a [B, S] i32 or f32 tensor");
    /* Masks are small: a device mask is read back, converted here, and sent again. */
    const Tensor *m01 = mask01->device == DEVICE_CPU ? mask01 : tensor_to_device(mask01, DEVICE_CPU);
    Tensor *out = tensor_new(DTYPE_F32, 2, mask01->shape);
    const int64_t n = tensor_numel(mask01);
    float *o = tensor_f32(out);
    /* BERT's get_extended_attention_mask: (1 - m) · -10000 (spec §2.3). */
    for (int64_t k = 0; k < n; k++) {
        float m = m01->dtype == DTYPE_I32 ? (float)tensor_i32(m01)[k] : tensor_f32(m01)[k];
        o[k] = (1.0f - m) * -10000.0f;
    }
    return tensor_on(out, mask01->device);
}
