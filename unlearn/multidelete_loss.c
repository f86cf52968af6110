#include "unlearn/multidelete_loss.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"

MultiDeleteOptions multidelete_default_options(void) {
    return (MultiDeleteOptions){.lambda_md = 1.0f, .lambda_mkr = 1.0f, .lambda_ukr = 1.0f,
                                .use_md = 1, .use_mkr = 1, .use_ukr = 1};
}

void multidelete_random_permutation(uint64_t seed, uint64_t step, int n, int32_t *perm) {
    int64_t *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    CHECK(tmp != NULL, "out of memory");
    for (int k = 0; k < n; k++) tmp[k] = k;
    Rng rng = rng_make(seed, step);
    rng_shuffle_i64(&rng, tmp, n);
    for (int k = 0; k < n; k++) perm[k] = (int32_t)tmp[k];
    free(tmp);
}

static Tensor *weighted_add(Tensor *sum, Tensor *term, float weight) {
    Tensor *w = op_scale(term, weight);
    return sum ? op_add(sum, w) : w;
}

Tensor *multidelete_loss(Albef *unlearned, Albef *original, const AlbefBatch *df, const AlbefBatch *dr,
                         const int32_t *perm, const MultiDeleteOptions *opt, MultiDeleteTerms *terms) {
    memset(terms, 0, sizeof *terms);
    CHECK(opt->use_md || opt->use_mkr || opt->use_ukr, "MultiDelete with every term dropped");
    const int need_df = opt->use_md || opt->use_ukr;
    int64_t b = df->images->shape[0];

    /* θ0 first, without a tape (DESIGN.md "The frozen original model is cheap"). */
    int prev = autograd_set_enabled(0);
    AlbefImageEmbed img0 = {0};
    AlbefTextEmbed txt0 = {0};
    Tensor *z0 = NULL, *s0 = NULL, *s0t = NULL;
    if (need_df) {
        img0 = albef_embed_image(original, df->images);
        /* On the original captions: the permutation only re-pairs, §5.2. */
        txt0 = albef_embed_text(original, df->text_ids, df->text_mask);
    }
    if (opt->use_md) {
        Tensor *p = tensor_new(DTYPE_I32, SHAPE(b));
        memcpy(tensor_i32(p), perm, (size_t)b * sizeof(int32_t));
        Tensor *t0_perm = op_index_select(txt0.feat, 0, p);
        s0 = op_matmul(img0.feat, t0_perm, 0, 1);  /* S0[i, j] = cos(v0_i, t0_π(j)) */
        s0t = op_matmul(t0_perm, img0.feat, 0, 1); /* its transpose */
    }
    if (opt->use_mkr) {
        AlbefImageEmbed img0_r = albef_embed_image(original, dr->images);
        AlbefTextEmbed txt0_r = albef_embed_text(original, dr->text_ids, dr->text_mask);
        z0 = albef_fused_cls(original, &txt0_r, img0_r.tokens);
    }
    autograd_set_enabled(prev);

    Tensor *total = NULL;
    if (need_df) {
        AlbefImageEmbed img = albef_embed_image(unlearned, df->images);
        AlbefTextEmbed txt = albef_embed_text(unlearned, df->text_ids, df->text_mask);
        if (opt->use_md) {
            /* Both orientations, as the released code; they are equal, so this is 2·MSE(S0, S'). */
            terms->md = op_add(op_mse(op_matmul(img.feat, txt.feat, 0, 1), s0),
                               op_mse(op_matmul(txt.feat, img.feat, 0, 1), s0t));
            total = weighted_add(total, terms->md, opt->lambda_md);
        }
        if (opt->use_ukr) {
            terms->ukr = op_add(op_mse(img.feat, img0.feat), op_mse(txt.feat, txt0.feat));
            total = weighted_add(total, terms->ukr, opt->lambda_ukr);
        }
    }
    if (opt->use_mkr) {
        AlbefImageEmbed img_r = albef_embed_image(unlearned, dr->images);
        AlbefTextEmbed txt_r = albef_embed_text(unlearned, dr->text_ids, dr->text_mask);
        terms->mkr = op_mse(albef_fused_cls(unlearned, &txt_r, img_r.tokens), z0);
        total = weighted_add(total, terms->mkr, opt->lambda_mkr);
    }
    terms->total = total;
    return total;
}
