/* DtD (spec/unlearning_methods.md §4.5): σ equals Thm 3.1's formula for given
 * inputs (the spec's computed table and a hand evaluation), the added noise
 * has that standard deviation and zero mean, and with -F only the fusion
 * parameters receive noise (every other one stays bit-identical). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/dtd.h"

TEST(test_dtd_sigma_matches_thm31) {
    /* By hand: n = 1000, T = 3, wd = 0.1 -> m 0.1, M 3.9, L 1.1, γ = 3.8/4 = 0.95, δ = 1e-6, ε = 5. */
    DtdSigmaInputs in = dtd_sigma_inputs(1000, 3, 0.1, 5.0, -1);
    ASSERT_NEAR(in.m, 0.1, 1e-15);
    ASSERT_NEAR(in.M, 3.9, 1e-15);
    ASSERT_NEAR(in.L, 1.1, 1e-15);
    ASSERT_NEAR(in.delta, 1e-6, 1e-20);
    double g3 = 0.95 * 0.95 * 0.95, l = log(1e6);
    double expect = 4 * sqrt(2.0) * 1.1 * g3 / (0.1 * 1000 * (1 - g3) * (sqrt(l + 5) - sqrt(l)));
    ASSERT_NEAR(dtd_sigma(&in), expect, 1e-12 * expect);
    /* The spec's table (S1 settings, T = 1; T = 10 for reference), to its 3 digits. */
    struct { int64_t n; double wd; int T; double sigma; } table[] = {
        {145000, 0.02, 1, 0.403}, {145000, 0.05, 1, 0.0654}, {529527, 0.05, 1, 0.0188},
        {86373, 0.02, 1, 0.664},  {86373, 0.05, 1, 0.108},   {145000, 0.02, 10, 0.0385},
        {86373, 0.05, 10, 0.0096},
    };
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        DtdSigmaInputs t = dtd_sigma_inputs(table[k].n, table[k].T, table[k].wd, 5.0, -1);
        double s = dtd_sigma(&t);
        ASSERT_MSG(fabs(s - table[k].sigma) <= 0.006 * table[k].sigma, "n %lld wd %g T %d: sigma %.5g, table %.5g",
                   (long long)table[k].n, table[k].wd, table[k].T, s, table[k].sigma);
    }
    /* Outside the theorem's domain: an error, not a number. */
    DtdSigmaInputs bad = dtd_sigma_inputs(1000, 1, 0.0, 5.0, -1);
    ASSERT(dtd_sigma(&bad) < 0);
    ASSERT_STR_CONTAINS(error_message(), "domain");
    error_clear();
}

TEST(test_dtd_noise_has_sigma_and_respects_fusion_only) {
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT(tok != NULL);
    Albef full, fus, ref;
    ASSERT(eval_world_model(&full, tok, 8) == 0 && eval_world_model(&fus, tok, 8) == 0 &&
           eval_world_model(&ref, tok, 8) == 0);
    const double sigma = 0.0375;
    int64_t n = dtd_add_noise(&full.params, sigma, 42);
    ASSERT_EQ_INT(n, full.params.total);
    double sum = 0, sq = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = (double)full.params.values[k] - (double)ref.params.values[k];
        sum += d;
        sq += d * d;
    }
    double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    /* n ≈ 6e4 draws: the sample sd is within ~0.3% of σ (1 s.e.), the mean within ~1.5e-4. */
    ASSERT_MSG(fabs(sd / sigma - 1) < 0.015, "noise sd %.6g vs sigma %.6g over %lld values", sd, sigma, (long long)n);
    ASSERT_MSG(fabs(mean) < 4 * sigma / sqrt((double)n), "noise mean %.3g", mean);

    /* -F: only the fusion set is noised, with the same draws it gets in the full run. */
    ASSERT(albef_set_fusion_only(&fus) > 0);
    int64_t nf = dtd_add_noise(&fus.params, sigma, 42);
    ASSERT_EQ_INT(nf, params_count_trainable(&fus.params));
    ASSERT(nf > 0 && nf < n);
    double fsq = 0;
    for (int k = 0; k < fus.params.count; k++) {
        const Tensor *p = fus.params.items[k], *q = ref.params.items[k], *f = full.params.items[k];
        size_t bytes = (size_t)tensor_numel(p) * sizeof(float);
        if (!p->requires_grad) {
            ASSERT_MSG(memcmp(tensor_f32(p), tensor_f32(q), bytes) == 0, "non-fusion %s got noise under -F", p->name);
            continue;
        }
        ASSERT_MSG(memcmp(tensor_f32(p), tensor_f32(f), bytes) == 0, "fusion %s differs from the full run", p->name);
        for (int64_t j = 0; j < tensor_numel(p); j++) {
            double d = (double)tensor_f32(p)[j] - (double)tensor_f32(q)[j];
            fsq += d * d;
        }
    }
    ASSERT_MSG(fabs(sqrt(fsq / (double)nf) / sigma - 1) < 0.03, "fusion noise rms %.6g", sqrt(fsq / (double)nf));
    albef_free(&full);
    albef_free(&fus);
    albef_free(&ref);
    tokenizer_free(tok);
}
