/* Multi-head scaled dot-product attention: the heads split and merged around
 * the fused op_attention (spec/albef_blip.md §1.2 for the ViT, §2.3 for
 * BERT's self- and cross-attention). */
#include "nn/attention.h"

#include <math.h>

#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"

/* [B, T, H·Dh] -> [B, H, T, Dh]: head h owns columns h·Dh .. (h+1)·Dh-1. */
static Tensor *split_heads(Tensor *x, int n_heads) {
    const int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2];
    Tensor *r = op_reshape(x, SHAPE(B, T, n_heads, D / n_heads));
    return op_permute(r, (const int[]){0, 2, 1, 3});
}

Tensor *attention_heads(Tensor *q, Tensor *k, Tensor *v, Tensor *mask, int n_heads, DropoutState *dropout) {
    CHECK(q->ndim == 3 && k->ndim == 3 && v->ndim == 3, "attention: q, k, v must be [B, T, D]");
    const int64_t B = q->shape[0], T = q->shape[1], D = q->shape[2], S = k->shape[1];
    CHECK(n_heads > 0 && D % n_heads == 0, "attention: width %lld not divisible by %d heads", (long long)D,
          n_heads);
    CHECK(k->shape[0] == B && v->shape[0] == B && k->shape[2] == D && v->shape[2] == D && v->shape[1] == S,
          "attention: q [%lld, %lld, %lld], k and v must be [%lld, S, %lld]", (long long)B, (long long)T,
          (long long)D, (long long)B, (long long)D);
    if (mask) {
        CHECK(mask->dtype == DTYPE_F32 && mask->ndim == 2 && mask->shape[0] == B && mask->shape[1] == S,
              "attention: the additive mask must be f32 [%lld, %lld]", (long long)B, (long long)S);
    }
    const int64_t dh = D / n_heads;
    Tensor *qh = split_heads(q, n_heads); /* [B, H, T, Dh] */
    Tensor *kh = split_heads(k, n_heads); /* [B, H, S, Dh] */
    Tensor *vh = split_heads(v, n_heads); /* [B, H, S, Dh] */
    /* Probability dropout draws its mask as dropout_forward() would on the
     * [B, H, T, S] probabilities: same (seed, stream), and the stream advances
     * only when dropout is active, so masks match the composed ops'. */
    float p = 0.0f;
    uint64_t seed = 0, stream = 0;
    if (dropout && dropout->training && dropout->p > 0.0f) {
        p = dropout->p;
        seed = dropout->seed;
        stream = dropout->stream++;
    }
    /* Scale after the product, as both timm and Hugging Face BERT do. */
    Tensor *ctx = op_attention_rows(qh, kh, vh, mask, (float)(1.0 / sqrt((double)dh)), p, seed, stream,
                                    dropout_batch_rows()); /* [B, H, T, Dh] */
    /* The heads merged back, [B, T, H·Dh], in memory of its own (not a view):
     * the caller's output product may rematerialize it. */
    return op_permute_to(ctx, (const int[]){0, 2, 1, 3}, SHAPE(B, T, D));
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
