/* autograd/gelu_math.h: GELU's float Φ, φ and exp against double erfc and
 * exp, at the accuracy its header states, and its special values. The CUDA
 * kernels use the same functions; tests/test_cuda_activation.c checks that the
 * two backends agree bit for bit. */
#include <math.h>

#include "autograd/gelu_math.h"
#include "tests/test.h"

/* The spacing of floats at |v| (at least the smallest normal's). */
static double ulp_at(double v) {
    float f = fabsf((float)v);
    if (f < 1.17549435e-38f) f = 1.17549435e-38f;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

TEST(test_gelu_math_within_its_stated_ulps_of_double) {
    const int n = 1 << 23;
    double worst_cdf = 0, worst_gelu = 0, worst_grad = 0, worst_exp = 0;
    float at_cdf = 0, at_gelu = 0, at_grad = 0;
    for (int i = 0; i <= n; i++) {
        float x = (float)(-12.5 + 25.0 * i / n);
        double xd = x, cdf = 0.5 * erfc(-xd / sqrt(2.0)), pdf = exp(-0.5 * xd * xd) * 0.39894228040143267794;
        double e_cdf = fabs(gelu_cdf_f32(x) - cdf) / ulp_at(cdf);
        double e_gelu = fabs(gelu_f32(x) - xd * cdf) / ulp_at(xd * cdf);
        double e_grad = fabs(gelu_grad_f32(x) - (cdf + xd * pdf)) / ulp_at(fmax(cdf, fabs(xd * pdf)));
        if (e_cdf > worst_cdf) worst_cdf = e_cdf, at_cdf = x;
        if (e_gelu > worst_gelu) worst_gelu = e_gelu, at_gelu = x;
        if (e_grad > worst_grad) worst_grad = e_grad, at_grad = x;
        float y = (float)(-104.0 * i / n);
        double e = fabs(gelu_exp_f32(y) - exp((double)y));
        double e_exp = exp((double)y) >= 1.17549435e-38 ? e / ulp_at(exp((double)y)) : e / 1.4e-45;
        if (e_exp > worst_exp) worst_exp = e_exp;
    }
    ASSERT_MSG(worst_cdf <= 7.0, "Phi: %.2f ulp at x = %.9g", worst_cdf, at_cdf);
    ASSERT_MSG(worst_gelu <= 7.0, "GELU: %.2f ulp at x = %.9g", worst_gelu, at_gelu);
    ASSERT_MSG(worst_grad <= 4.0, "GELU': %.2f ulp at x = %.9g", worst_grad, at_grad);
    ASSERT_MSG(worst_exp <= 1.0, "exp: %.2f ulp", worst_exp);
}

TEST(test_gelu_math_special_values) {
    ASSERT(gelu_f32(0.0f) == 0.0f);
    ASSERT(gelu_cdf_f32(0.0f) == 0.5f);
    ASSERT(gelu_grad_f32(0.0f) == 0.5f);
    ASSERT(isnan(gelu_f32(NAN)) && isnan(gelu_grad_f32(NAN)) && isnan(gelu_cdf_f32(NAN)));
    ASSERT(gelu_f32(INFINITY) == INFINITY);
    ASSERT(gelu_cdf_f32(-INFINITY) == 0.0f && gelu_cdf_f32(INFINITY) == 1.0f);
    /* Far tails: Φ is 0 or 1, GELU 0 or x, GELU' 0 or 1. */
    ASSERT(gelu_f32(-20.0f) == 0.0f && gelu_f32(20.0f) == 20.0f);
    ASSERT(gelu_grad_f32(-20.0f) == 0.0f && gelu_grad_f32(20.0f) == 1.0f);
    /* Below 0 the tail keeps its relative accuracy (1 + erf would round to 0 here). */
    double want = 0.5 * erfc(8.0 / sqrt(2.0));
    ASSERT_MSG(fabs(gelu_cdf_f32(-8.0f) - want) < 1e-6 * want, "Phi(-8) = %g, want %g", gelu_cdf_f32(-8.0f), want);
    ASSERT(gelu_exp_f32(0.0f) == 1.0f && gelu_exp_f32(-200.0f) == 0.0f && isnan(gelu_exp_f32(NAN)));
}
