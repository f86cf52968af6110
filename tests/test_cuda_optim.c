/* The optimizers on a device ParamSet (nn/optim.c over cuda/optim.cu) against
 * the same ParamSet on the CPU: two AdamW steps with LAVIS's no-decay groups,
 * two SGD steps with momentum and weight decay, and gradient-norm clipping.
 * Values, moments and the clipped gradients agree within 1e-6 (the kernels
 * repeat the CPU loops' float operations, so in practice bit for bit), and a
 * frozen parameter keeps its bits. Skips without a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/params.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "nn/optim.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

#define OPTIM_TOL 1e-6

/* Sizes that are and are not multiples of the kernels' 256-thread blocks, and
 * one tensor of more than two of AdamW's 65,536-element chunks (its blocks
 * start inside a tensor). */
static void build_params(ParamSet *ps) {
    params_init(ps);
    params_add_init(ps, "enc.weight", SHAPE(37, 13), PARAM_INIT_NORMAL, 0.5f);
    params_add_init(ps, "wide.weight", SHAPE(3, 43717), PARAM_INIT_NORMAL, 0.02f);
    params_add_init(ps, "enc.bias", SHAPE(13), PARAM_INIT_NORMAL, 0.1f);
    params_add_init(ps, "enc.ln.weight", SHAPE(256), PARAM_INIT_ONES, 0.0f);
    params_add_init(ps, "frozen.weight", SHAPE(5, 5), PARAM_INIT_NORMAL, 0.5f);
    params_add_init(ps, "head.weight", SHAPE(1000, 3), PARAM_INIT_NORMAL, 0.02f);
    params_add_init(ps, "head.scale", SHAPE(1), PARAM_INIT_ONES, 0.0f);
    params_finalize(ps);
    params_initialize(ps, 11);
    params_find(ps, "frozen.weight")->requires_grad = 0;
}

/* The same gradients (frozen parameter included) in both sets. */
static void set_grads(ParamSet *cpu, ParamSet *dev, float scale, uint64_t seed) {
    Tensor *g = tensor_random_uniform(SHAPE(cpu->total), -scale, scale, seed);
    memcpy(cpu->grads, tensor_f32(g), (size_t)cpu->total * sizeof(float));
    device_copy(dev->grads, dev->device, tensor_f32(g), DEVICE_CPU, (size_t)dev->total * sizeof(float));
}

/* max |device − cpu| over n floats of a device block; sets *at to the worst index. */
static double max_diff(const float *dev_block, Device device, const float *cpu_block, int64_t n, int64_t *at) {
    float *host = malloc((size_t)(n > 0 ? n : 1) * sizeof *host);
    device_copy(host, DEVICE_CPU, dev_block, device, (size_t)n * sizeof *host);
    double worst = 0.0;
    *at = -1;
    for (int64_t k = 0; k < n; k++) {
        double e = fabs((double)host[k] - (double)cpu_block[k]);
        if (isnan(e) || e > worst) {
            worst = isnan(e) ? INFINITY : e;
            *at = k;
        }
    }
    free(host);
    return worst;
}

#define ASSERT_BLOCKS_CLOSE(what, dev_block, device, cpu_block, n)                                         \
    do {                                                                                                   \
        int64_t at_;                                                                                       \
        double e_ = max_diff(dev_block, device, cpu_block, n, &at_);                                       \
        ASSERT_MSG(e_ <= OPTIM_TOL, "%s: element %lld differs by %.3g", what, (long long)at_, e_);        \
    } while (0)

TEST(test_cuda_adamw_two_steps_match_cpu) {
    if (!cuda_parity_ready()) return;
    ParamSet cpu, dev;
    build_params(&cpu);
    build_params(&dev);
    params_to_device(&dev, DEVICE_CUDA);
    AdamW oc, od;
    adamw_init(&oc, &cpu, 0.9f, 0.999f, 1e-8f, 0.05f);
    adamw_init(&od, &dev, 0.9f, 0.999f, 1e-8f, 0.05f);
    ASSERT_EQ_INT(adamw_use_lavis_decay_groups(&oc), adamw_use_lavis_decay_groups(&od));
    const float lrs[2] = {1e-3f, 3e-4f};
    for (int step = 0; step < 2; step++) {
        set_grads(&cpu, &dev, 1.0f, 900 + step);
        adamw_step(&oc, lrs[step]);
        adamw_step(&od, lrs[step]);
    }
    ASSERT_BLOCKS_CLOSE("AdamW values", dev.values, DEVICE_CUDA, cpu.values, cpu.total);
    ASSERT_BLOCKS_CLOSE("AdamW first moments", od.m, DEVICE_CUDA, oc.m, cpu.total);
    ASSERT_BLOCKS_CLOSE("AdamW second moments", od.v, DEVICE_CUDA, oc.v, cpu.total);
    /* The frozen parameter kept its initial bits on the device. */
    Tensor *fz = params_find(&dev, "frozen.weight");
    ParamSet init;
    build_params(&init);
    int64_t at;
    ASSERT(max_diff(tensor_f32(fz), DEVICE_CUDA, tensor_f32(params_find(&init, "frozen.weight")), 25, &at) == 0.0);
    params_free(&init);
    adamw_free(&oc);
    adamw_free(&od);
    params_free(&cpu);
    params_free(&dev);
    autograd_step_end();
}

TEST(test_cuda_sgd_momentum_two_steps_match_cpu) {
    if (!cuda_parity_ready()) return;
    ParamSet cpu, dev;
    build_params(&cpu);
    build_params(&dev);
    params_to_device(&dev, DEVICE_CUDA);
    Sgd oc, od;
    sgd_init(&oc, &cpu, 0.9f, 1e-4f);
    sgd_init(&od, &dev, 0.9f, 1e-4f);
    const float lrs[2] = {0.1f, 0.05f};
    for (int step = 0; step < 2; step++) {
        set_grads(&cpu, &dev, 1.0f, 950 + step);
        sgd_step(&oc, lrs[step]);
        sgd_step(&od, lrs[step]);
    }
    ASSERT_BLOCKS_CLOSE("SGD values", dev.values, DEVICE_CUDA, cpu.values, cpu.total);
    ASSERT_BLOCKS_CLOSE("SGD momentum buffers", od.buf, DEVICE_CUDA, oc.buf, cpu.total);
    sgd_free(&oc);
    sgd_free(&od);
    params_free(&cpu);
    params_free(&dev);
    autograd_step_end();
}

TEST(test_cuda_clip_grad_norm_matches_cpu) {
    if (!cuda_parity_ready()) return;
    ParamSet cpu, dev;
    build_params(&cpu);
    build_params(&dev);
    params_to_device(&dev, DEVICE_CUDA);
    /* Large gradients: clipped to norm 1 (the frozen one is neither counted nor scaled). */
    set_grads(&cpu, &dev, 3.0f, 990);
    float nc = clip_grad_norm(&cpu, 1.0f), nd = clip_grad_norm(&dev, 1.0f);
    ASSERT(nc > 1.0f);
    ASSERT_NEAR(nd, nc, 1e-6 * nc);
    ASSERT_BLOCKS_CLOSE("clipped gradients", dev.grads, DEVICE_CUDA, cpu.grads, cpu.total);
    /* Below the limit nothing changes. */
    float nc2 = clip_grad_norm(&cpu, 100.0f), nd2 = clip_grad_norm(&dev, 100.0f);
    ASSERT_NEAR(nd2, nc2, 1e-6 * nc2);
    ASSERT_BLOCKS_CLOSE("unclipped gradients", dev.grads, DEVICE_CUDA, cpu.grads, cpu.total);
    params_free(&cpu);
    params_free(&dev);
    autograd_step_end();
}
