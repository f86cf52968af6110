/* Finite-difference gradient checking.
 *
 * gradcheck() compares the tape's gradient of L = Σ w ⊙ f(inputs), for a fixed
 * random projection w, with central differences (L(x+h) - L(x-h)) / 2h taken
 * element by element over every input that requires a gradient. L is summed
 * in double precision so the difference quotient is limited by the op's float
 * forward only. An element passes when |analytic - numeric| <= atol + rtol·|numeric|. */
#ifndef AUTOGRAD_GRAD_CHECK_H
#define AUTOGRAD_GRAD_CHECK_H

#include <stddef.h>

#include "core/tensor.h"

/* Builds the op's output from the inputs (same inputs, same output every call). */
typedef Tensor *(*GradCheckFn)(Tensor **inputs, void *ctx);

typedef struct {
    double step;     /* h, relative to max(1, |x|); default 1e-2 */
    double atol;     /* default 5e-4 */
    double rtol;     /* default 2e-3 */
} GradCheckOptions;

GradCheckOptions gradcheck_defaults(void);

/* Returns 0 when every element passes; otherwise -1 with error_message()
 * naming the input, the element and both values of the worst mismatch. */
int gradcheck(GradCheckFn fn, Tensor **inputs, int n_inputs, void *ctx, GradCheckOptions opt);

/* A new f32 tensor with values uniform in [lo, hi) from a fixed seed (tests). */
Tensor *tensor_random_uniform(int ndim, const int64_t *shape, float lo, float hi, uint64_t seed);

#endif
