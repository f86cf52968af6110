#include "autograd/grad_check.h"

#include <math.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/rng.h"

GradCheckOptions gradcheck_defaults(void) { return (GradCheckOptions){1e-2, 5e-4, 2e-3}; }

Tensor *tensor_random_uniform(int ndim, const int64_t *shape, float lo, float hi, uint64_t seed) {
    Tensor *t = tensor_new(DTYPE_F32, ndim, shape);
    float *v = tensor_f32(t);
    int64_t n = tensor_numel(t);
    for (int64_t k = 0; k < n; k++) v[k] = lo + (hi - lo) * philox_uniform(seed, 0x6772616463686bULL, (uint64_t)k);
    return t;
}

static double projected(const Tensor *out, const float *w) {
    const float *o = tensor_f32(out);
    double s = 0.0;
    int64_t n = tensor_numel(out);
    for (int64_t k = 0; k < n; k++) s += (double)o[k] * (double)w[k];
    return s;
}

int gradcheck(GradCheckFn fn, Tensor **inputs, int n_inputs, void *ctx, GradCheckOptions opt) {
    /* Analytic gradient through the tape. */
    tape_clear();
    for (int k = 0; k < n_inputs; k++) inputs[k]->grad = NULL;
    int prev = autograd_set_enabled(1);
    Tensor *out = fn(inputs, ctx);
    CHECK(out->dtype == DTYPE_F32, "gradcheck of a non-f32 output");
    int64_t n_out = tensor_numel(out);
    Tensor *w = tensor_random_uniform(1, (int64_t[]){n_out}, -1.0f, 1.0f, 0x77);
    autograd_backward_with(out, tensor_f32(w));
    autograd_set_enabled(0);

    double worst = 0.0;
    int failed = 0;
    for (int k = 0; k < n_inputs; k++) {
        Tensor *x = inputs[k];
        if (!x->requires_grad) continue;
        CHECK(x->grad != NULL, "input %d received no gradient", k);
        float *analytic = (float *)x->grad;
        float *v = tensor_f32(x);
        int64_t n = tensor_numel(x);
        for (int64_t e = 0; e < n; e++) {
            float saved = v[e];
            double h = opt.step * fmax(1.0, fabs((double)saved));
            v[e] = (float)(saved + h);
            double hp = (double)v[e] - saved; /* the step actually taken in float */
            double lp = projected(fn(inputs, ctx), tensor_f32(w));
            v[e] = (float)(saved - h);
            double hm = saved - (double)v[e];
            double lm = projected(fn(inputs, ctx), tensor_f32(w));
            v[e] = saved;
            double numeric = (lp - lm) / (hp + hm);
            double diff = fabs((double)analytic[e] - numeric);
            double excess = diff - (opt.atol + opt.rtol * fabs(numeric));
            if (!isfinite(analytic[e]) || excess > worst || (excess > 0 && !failed)) {
                if (excess > 0 || !isfinite(analytic[e])) {
                    failed = 1;
                    worst = excess;
                    error_set("input %d element %lld: analytic %.6g, numeric %.6g", k, (long long)e,
                              (double)analytic[e], numeric);
                }
            }
        }
    }
    tape_clear();
    autograd_set_enabled(prev);
    return failed ? -1 : 0;
}
