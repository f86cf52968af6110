#include "models/albef_cls_multidelete.h"

#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"

AlbefClsMdOptions albef_cls_md_default_options(void) {
    return (AlbefClsMdOptions){.lambda_md = 1.0f, .lambda_mkr = 1.0f, .lambda_ukr = 1.0f,
                               .use_md = 1, .use_mkr = 1, .use_ukr = 1, .ukr_text = 0};
}

static Tensor *weighted_add(Tensor *sum, Tensor *term, float weight) {
    Tensor *w = op_scale(term, weight);
    return sum ? op_add(sum, w) : w;
}

/* Rows perm[i] of an i32 [B, L] tensor, on its device (ids are permuted on
 * the host: they are small and carry no gradient). */
static Tensor *rows_permuted(Tensor *x, const int32_t *perm) {
    int64_t B = x->shape[0], L = x->shape[1];
    Tensor *host = tensor_new(DTYPE_I32, SHAPE(B, L)), *out = tensor_new(DTYPE_I32, SHAPE(B, L));
    tensor_copy_to_host(x, tensor_i32(host));
    for (int64_t i = 0; i < B; i++) {
        CHECK(perm[i] >= 0 && perm[i] < B, "MultiDelete: permutation entry %d outside the batch of %lld", perm[i],
              (long long)B);
        memcpy(tensor_i32(out) + i * L, tensor_i32(host) + (int64_t)perm[i] * L, (size_t)L * sizeof(int32_t));
    }
    return tensor_on(out, x->device);
}

/* The Df batch with sentence i replaced by sentence perm[i]; images stay. */
static AlbefClsBatch permuted_texts(const AlbefClsBatch *df, const int32_t *perm) {
    AlbefClsBatch out = *df;
    out.text_ids = rows_permuted(df->text_ids, perm);
    out.text_mask = rows_permuted(df->text_mask, perm);
    out.labels = NULL;
    return out;
}

/* The image tokens of a forward, image 0's then image 1's rows (§5.2 NLVR2). */
static Tensor *stacked_tokens(const AlbefClsOutput *f) {
    if (!f->image_tokens[1]) return f->image_tokens[0];
    Tensor *both[2] = {f->image_tokens[0], f->image_tokens[1]};
    return op_concat(both, 2, 0);
}

static Tensor *text_cls(Tensor *tokens) {
    return op_reshape(op_slice(tokens, 1, 0, 1), SHAPE(tokens->shape[0], tokens->shape[2]));
}

Tensor *albef_cls_multidelete_loss(AlbefCls *unlearned, AlbefCls *original, const AlbefClsBatch *df,
                                   const AlbefClsBatch *dr, const int32_t *perm, const AlbefClsMdOptions *opt,
                                   AlbefClsMdTerms *terms) {
    memset(terms, 0, sizeof *terms);
    CHECK(opt->use_md || opt->use_mkr || opt->use_ukr, "MultiDelete with every term dropped");
    CHECK(unlearned->task == original->task, "MultiDelete: the original model is for another task");

    /* θ0 first, without a tape (DESIGN.md "The frozen original model is cheap"). */
    int prev = autograd_set_enabled(0);
    Tensor *z0_perm = NULL, *v0 = NULL, *w0 = NULL, *z0_r = NULL;
    if (opt->use_ukr) {
        AlbefClsOutput f0 = albef_cls_forward(original, df);
        v0 = stacked_tokens(&f0);
        if (opt->ukr_text) w0 = text_cls(f0.text_tokens);
    }
    if (opt->use_mkr) z0_r = albef_cls_forward(original, dr).fused_cls;
    if (opt->use_md) {
        AlbefClsBatch mismatched = permuted_texts(df, perm);
        z0_perm = albef_cls_forward(original, &mismatched).fused_cls;
    }
    autograd_set_enabled(prev);

    Tensor *total = NULL;
    if (opt->use_md || opt->use_ukr) {
        AlbefClsOutput f = albef_cls_forward(unlearned, df);
        if (opt->use_md) {
            terms->md = op_mse(f.fused_cls, z0_perm);
            total = weighted_add(total, terms->md, opt->lambda_md);
        }
        if (opt->use_ukr) {
            terms->ukr_image = op_mse(stacked_tokens(&f), v0);
            terms->ukr = terms->ukr_image;
            if (opt->ukr_text) {
                terms->ukr_text = op_mse(text_cls(f.text_tokens), w0);
                terms->ukr = op_add(terms->ukr_image, terms->ukr_text);
            }
            total = weighted_add(total, terms->ukr, opt->lambda_ukr);
        }
    }
    if (opt->use_mkr) {
        terms->mkr = op_mse(albef_cls_forward(unlearned, dr).fused_cls, z0_r);
        total = weighted_add(total, terms->mkr, opt->lambda_mkr);
    }
    terms->total = total;
    return total;
}
