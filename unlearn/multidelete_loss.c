#include "unlearn/multidelete_loss.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/scope.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/xalloc.h"

MultiDeleteOptions multidelete_default_options(void) {
    return (MultiDeleteOptions){.lambda_md = 1.0f, .lambda_mkr = 1.0f, .lambda_ukr = 1.0f,
                                .use_md = 1, .use_mkr = 1, .use_ukr = 1};
}

void multidelete_random_permutation(uint64_t seed, uint64_t step, int n, int32_t *perm) {
    int64_t *tmp = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
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

/* Σ_k MSE(a_k, b_k). */
static Tensor *mse_sum(Tensor *const *a, Tensor *const *b, int n) {
    Tensor *sum = NULL;
    for (int k = 0; k < n; k++) {
        Tensor *term = op_mse(a[k], b[k]);
        sum = sum ? op_add(sum, term) : term;
    }
    return sum;
}

Tensor *multidelete_loss(const Task *t, TaskModel *unlearned, TaskModel *original, const TaskBatch *df,
                         const TaskBatch *dr, const int32_t *perm, const MultiDeleteOptions *opt,
                         MultiDeleteTerms *terms) {
    memset(terms, 0, sizeof *terms);
    CHECK(opt->use_md || opt->use_mkr || opt->use_ukr, "MultiDelete with every term dropped");
    const int need_df = opt->use_md || opt->use_ukr;

    /* θ0 first, without a tape (DESIGN.md "The frozen original model is cheap"),
     * in a scope: only its targets outlive it, so its activations take no
     * memory from θ's forward and backward (ALBEF-base: bench/README.md). */
    int prev = autograd_set_enabled(0);
    ActivationScope scope = activation_scope_begin();
    TaskSides s0 = {0};
    Tensor *targets[TASK_MAX_MD_TERMS] = {0}, *z0 = NULL;
    int n_md = 0;
    if (need_df) s0 = t->sides(t, original, df); /* on the original texts: the permutation only re-pairs, §5.2 */
    if (opt->use_md) n_md = t->md_targets(t, original, df, &s0, perm, targets);
    if (opt->use_mkr) {
        TaskSides s0_r = t->sides(t, original, dr);
        z0 = t->fused(t, original, dr, &s0_r);
    }
    Tensor *kept[2 * TASK_MAX_MD_TERMS + 1];
    int n_kept = 0;
    for (int k = 0; k < n_md; k++) kept[n_kept++] = targets[k];
    int n_retain = opt->use_ukr ? s0.n_retain : 0;
    for (int k = 0; k < n_retain; k++) kept[n_kept++] = s0.retain[k];
    if (z0) kept[n_kept++] = z0;
    activation_scope_end(&scope, kept, n_kept);
    n_kept = 0;
    for (int k = 0; k < n_md; k++) targets[k] = kept[n_kept++];
    for (int k = 0; k < n_retain; k++) s0.retain[k] = kept[n_kept++];
    if (z0) z0 = kept[n_kept++];
    autograd_set_enabled(prev);

    Tensor *total = NULL;
    if (need_df) {
        TaskSides s = t->sides(t, unlearned, df);
        if (opt->use_md) {
            Tensor *outputs[TASK_MAX_MD_TERMS] = {0};
            CHECK(t->md_outputs(t, unlearned, df, &s, outputs) == n_md, "%s: L_MD targets and outputs differ",
                  t->name);
            terms->md = mse_sum(outputs, targets, n_md);
            total = weighted_add(total, terms->md, opt->lambda_md);
        }
        if (opt->use_ukr) {
            terms->ukr = mse_sum(s.retain, s0.retain, s.n_retain);
            total = weighted_add(total, terms->ukr, opt->lambda_ukr);
        }
    }
    if (opt->use_mkr) {
        TaskSides s_r = t->sides(t, unlearned, dr);
        terms->mkr = op_mse(t->fused(t, unlearned, dr, &s_r), z0);
        total = weighted_add(total, terms->mkr, opt->lambda_mkr);
    }
    terms->total = total;
    return total;
}
