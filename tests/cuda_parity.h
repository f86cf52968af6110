/* The CUDA-against-CPU parity harness (issue 5 "Tests").
 *
 * cuda_parity_check() runs an op (or any composition of ops) twice on the CPU
 * inputs' device copies and once on the CPU, with the same upstream gradient,
 * and compares the output and every input gradient:
 * - the device arena is poisoned with NaN bytes before the device runs, so an
 *   output or gradient element a kernel never wrote fails the comparison;
 * - every input gradient starts from the same non-zero values on both
 *   devices, so a backward that overwrites instead of adding (+=) fails;
 * - the error is normwise: max|dev − cpu| / max|cpu| over each tensor, below
 *   tol (1e-5 in fp32, 1e-2 in bf16 by the bar);
 * - the two device runs must agree bit for bit (determinism); under the CUDA
 *   kernel emulator the second one runs blocks and threads in reverse order,
 *   so a race shows up there too.
 * On a machine or build without a GPU, cuda_parity_ready() marks the test
 * skipped with the reason, and the test returns. */
#ifndef TESTS_CUDA_PARITY_H
#define TESTS_CUDA_PARITY_H

#include "core/tensor.h"

#define PARITY_TOL_FP32 1e-5
#define PARITY_TOL_BF16 1e-2

/* 1 when the CUDA backend is up (fp32 GEMMs selected); otherwise test_skip()
 * has been called with the reason and the caller must return. */
int cuda_parity_ready(void);

typedef Tensor *(*ParityFn)(Tensor **inputs, void *ctx);

/* inputs: CPU tensors; f32 ones with requires_grad receive gradients. `fn`
 * must build its output from inputs[] only (device copies on the device run)
 * and may read tensors' data only through ops. Returns 0, or -1 with
 * error_message() naming `what`, the tensor, the worst element and both values. */
int cuda_parity_check(const char *what, ParityFn fn, Tensor **inputs, int n_inputs, void *ctx, double tol);
/* The same with bf16 activations (issue 5 Precision): on the device, input i
 * reaches fn as a bf16 tensor when bit i of bf16_inputs is set (the CPU run
 * gets the f32 values); a bf16 output is compared through its f32 values. */
int cuda_parity_check_bf16(const char *what, ParityFn fn, Tensor **inputs, int n_inputs, void *ctx, double tol,
                           unsigned bf16_inputs);

/* The profiler's table (cuda/backend.h cuda_profile_print) of its `top`
 * operations, as text in buf (cut to size). Needs a build with CUDA. */
void cuda_parity_profile_text(char *buf, size_t size, int top);

#endif
