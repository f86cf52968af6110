/* The bf16 copies of the parameter blocks (cuda/param_copies.cu, issue 17
 * Step 2): under --precision bf16 a product reads its weight from the block's
 * copy instead of casting it, and every way a program writes parameters keeps
 * the copy equal to the cast. Each check runs a two-layer product chain
 * (forward and backward, so the input-gradient product reads the weights
 * too) once with the copies and once with them off (every weight cast as
 * before) and asserts bit-identical outputs and gradients, after:
 * - the move to the device (first read: one whole-block refresh);
 * - AdamW and SGD steps and a clamp (the kernels write the copy themselves:
 *   no refresh);
 * - a device copy into the block (params_copy_values: a restore), a host
 *   upload (tensor_copy_from_host: DtD's noise, a checkpoint), a fill;
 * - the EMA update (kernels that announce their write);
 * - a block released and another allocated (no stale copy is found).
 * A kernel write that does not announce itself is shown to leave the copy
 * stale until param_block_written, which is the rule's reason to exist.
 * Skips without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/params.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "nn/optim.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

#ifdef HAVE_CUDA
#define IN 40
#define HIDDEN 48
#define ROWS 16

/* misaligned: a 3-value parameter first, so every weight after it starts at
 * an address cuBLASLt's bf16 kernels do not take from the copy. */
static void build_params_aligned_or_not(ParamSet *ps, uint64_t seed, int misaligned) {
    params_init(ps);
    if (misaligned) params_add_init(ps, "odd.scale", SHAPE(3), PARAM_INIT_ONES, 0.0f);
    params_add_init(ps, "fc1.weight", SHAPE(HIDDEN, IN), PARAM_INIT_NORMAL, 0.3f);
    params_add_init(ps, "fc1.bias", SHAPE(HIDDEN), PARAM_INIT_NORMAL, 0.1f);
    params_add_init(ps, "fc2.weight", SHAPE(IN, HIDDEN), PARAM_INIT_NORMAL, 0.3f);
    params_finalize(ps);
    params_initialize(ps, seed);
}

static void build_params(ParamSet *ps, uint64_t seed) { build_params_aligned_or_not(ps, seed, 0); }

/* What one forward and backward of the chain gives: the output (as f32),
 * the input's gradient and the parameter gradients, on the host. */
typedef struct {
    float y[ROWS * IN], dx[ROWS * IN];
    float *dparams;
} ChainResult;

static void run_chain(ParamSet *ps, ChainResult *r) {
    Tensor *x = tensor_to_device(tensor_random_uniform(SHAPE(ROWS, IN), -1.0f, 1.0f, 77), DEVICE_CUDA);
    x->requires_grad = 1;
    params_zero_grad(ps);
    Tensor *h = op_linear(x, params_find(ps, "fc1.weight"), params_find(ps, "fc1.bias"));
    Tensor *y = op_linear(h, params_find(ps, "fc2.weight"), NULL);
    autograd_backward(op_sum_all(op_cast(op_mul(y, y), DTYPE_F32)));
    tensor_copy_to_host(y, r->y);
    device_copy(r->dx, DEVICE_CPU, x->grad, DEVICE_CUDA, sizeof r->dx);
    r->dparams = malloc((size_t)ps->total * sizeof(float));
    device_copy(r->dparams, DEVICE_CPU, ps->grads, ps->device, (size_t)ps->total * sizeof(float));
    autograd_step_end();
}

/* 1 when the chain gives the same bits with the copies as with casts. */
static int copies_match_casts(ParamSet *ps, const char *after) {
    ChainResult with, without;
    run_chain(ps, &with);
    cuda_set_param_copies(0);
    run_chain(ps, &without);
    cuda_set_param_copies(1);
    int same = memcmp(with.y, without.y, sizeof with.y) == 0 && memcmp(with.dx, without.dx, sizeof with.dx) == 0 &&
               memcmp(with.dparams, without.dparams, (size_t)ps->total * sizeof(float)) == 0;
    if (!same) fprintf(stderr, "    the product chain read an out-of-date bf16 copy after %s\n", after);
    free(with.dparams);
    free(without.dparams);
    return same;
}

static void set_grads(ParamSet *ps, uint64_t seed) {
    Tensor *g = tensor_random_uniform(SHAPE(ps->total), -1.0f, 1.0f, seed);
    device_copy(ps->grads, ps->device, tensor_f32(g), DEVICE_CPU, (size_t)ps->total * sizeof(float));
}

#endif

static int bf16_ready(void) {
    if (!cuda_parity_ready()) return 0;
#ifdef HAVE_CUDA
    cuda_set_precision(PRECISION_BF16);
    return 1;
#else
    return 0;
#endif
}


TEST(test_cuda_param_copies_are_read_and_refreshed_once) {
    if (!bf16_ready()) return;
#ifdef HAVE_CUDA
    ParamSet ps;
    build_params(&ps, 3);
    params_to_device(&ps, DEVICE_CUDA);
    ParamCopyStats s0 = cuda_param_copy_stats();
    ChainResult r;
    run_chain(&ps, &r);
    free(r.dparams);
    ParamCopyStats s1 = cuda_param_copy_stats();
    /* Forward reads fc1.weight, its bias and fc2.weight; backward's input
     * gradients read fc2.weight and fc1.weight again: one refresh in all. */
    ASSERT_EQ_INT((int)(s1.refreshes - s0.refreshes), 1);
    ASSERT_EQ_INT((int)(s1.reads - s0.reads), 5);
    run_chain(&ps, &r);
    free(r.dparams);
    ParamCopyStats s2 = cuda_param_copy_stats();
    ASSERT_EQ_INT((int)(s2.refreshes - s1.refreshes), 0);
    ASSERT(copies_match_casts(&ps, "the move to the device"));
    params_free(&ps);

    /* Weights not 16-byte aligned in the copy are cast as before: no read. */
    build_params_aligned_or_not(&ps, 3, 1);
    params_to_device(&ps, DEVICE_CUDA);
    ParamCopyStats s3 = cuda_param_copy_stats();
    ASSERT(copies_match_casts(&ps, "the move to the device, misaligned"));
    ASSERT_EQ_INT((int)(cuda_param_copy_stats().reads - s3.reads), 0);
    params_free(&ps);
    cuda_set_precision(PRECISION_FP32);
#endif
}

TEST(test_cuda_param_copies_follow_every_parameter_write) {
    if (!bf16_ready()) return;
#ifdef HAVE_CUDA
    ParamSet ps, other;
    build_params(&ps, 3);
    build_params(&other, 4);
    params_to_device(&ps, DEVICE_CUDA);
    params_to_device(&other, DEVICE_CUDA);
    ASSERT(copies_match_casts(&ps, "the move to the device"));

    /* The optimizers write the copy in their own kernels: no refresh. */
    AdamW adamw;
    adamw_init(&adamw, &ps, 0.9f, 0.999f, 1e-8f, 0.05f);
    set_grads(&ps, 11);
    ParamCopyStats before = cuda_param_copy_stats();
    adamw_step(&adamw, 3e-2f);
    ChainResult r;
    run_chain(&ps, &r);
    free(r.dparams);
    ASSERT_EQ_INT((int)(cuda_param_copy_stats().refreshes - before.refreshes), 0);
    ASSERT(copies_match_casts(&ps, "an AdamW step"));
    adamw_free(&adamw);
    Sgd sgd;
    sgd_init(&sgd, &ps, 0.9f, 1e-4f);
    set_grads(&ps, 12);
    sgd_step(&sgd, 5e-2f);
    ASSERT(copies_match_casts(&ps, "an SGD step"));
    sgd_free(&sgd);

    /* The clamp (ALBEF's temperature) also writes the copy itself, and
     * clamps as the CPU does. */
    Tensor *bias = params_find(&ps, "fc1.bias");
    float before_clamp[HIDDEN], after_clamp[HIDDEN];
    tensor_copy_to_host(bias, before_clamp);
    before = cuda_param_copy_stats();
    params_clamp(bias, -0.05f, 0.08f);
    run_chain(&ps, &r);
    free(r.dparams);
    ASSERT_EQ_INT((int)(cuda_param_copy_stats().refreshes - before.refreshes), 0);
    tensor_copy_to_host(bias, after_clamp);
    for (int k = 0; k < HIDDEN; k++) {
        float v = before_clamp[k], want = v < -0.05f ? -0.05f : v > 0.08f ? 0.08f : v;
        ASSERT_MSG(after_clamp[k] == want, "clamp: element %d is %g, want %g", k, (double)after_clamp[k], (double)want);
    }
    ASSERT(copies_match_casts(&ps, "a clamp"));

    /* Copies into the block: a restore from another set, an upload of one
     * parameter from the host, a fill. */
    params_copy_values(&ps, &other);
    ASSERT(copies_match_casts(&ps, "params_copy_values"));
    Tensor *w = params_find(&ps, "fc2.weight");
    tensor_copy_from_host(w, tensor_f32(tensor_random_uniform(SHAPE(IN * HIDDEN), -0.5f, 0.5f, 13)));
    ASSERT(copies_match_casts(&ps, "an upload from the host"));
    device_fill(DEVICE_CUDA, params_find(&ps, "fc1.bias")->data, 0x3f, 8 * sizeof(float));
    ASSERT(copies_match_casts(&ps, "a fill"));

    /* Kernels that write the block announce it (the EMA update). */
    params_ema_update(&ps, &other, 0.5f);
    ASSERT(copies_match_casts(&ps, "the EMA update"));

    /* A kernel write that does not announce itself leaves the copy stale
     * (the rule's reason to exist), until it does. */
    const DeviceKernels *k = device_kernels(DEVICE_CUDA, "test");
    k->affine_forward(ps.values, ps.values, DTYPE_F32, ps.total, 1.5f, 0.0f);
    ASSERT(!copies_match_casts(&ps, "an unannounced kernel write (expected)"));
    k->param_block_written(ps.values, ps.total);
    ASSERT(copies_match_casts(&ps, "param_block_written"));

    /* A released block drops its copy; a new block (perhaps at the same
     * address) gets its own. */
    params_free(&ps);
    build_params(&ps, 5);
    params_to_device(&ps, DEVICE_CUDA);
    ASSERT(copies_match_casts(&ps, "a block released and another allocated"));
    params_free(&ps);
    params_free(&other);
    cuda_set_precision(PRECISION_FP32);
#endif
}
