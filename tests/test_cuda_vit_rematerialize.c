/* The ViT block's rematerialized intermediates (nn/transformer.c): its
 * pre-norm outputs (in bf16 on a device under bf16) and its GELU output go
 * back in the forward, and the backward recomputes each from what the norms
 * keep (LayerNorm of the block input, of the fused residual sum). The input and parameter gradients are those of the same block with
 * everything kept, bit for bit: on the CPU (rematerializing there, where
 * it is off by default), and on the device in bf16 (in the emulated GPU
 * suite; skips without a GPU). */
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/params.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "nn/transformer.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

enum { VIT_DIM = 64, VIT_TOKENS = 10, VIT_BATCH = 3 }; /* 4 heads of 16, a width the device attention takes */

/* The host copy of x's gradient followed by every parameter gradient. */
static float *vit_gradients(VitBlock *b, ParamSet *ps, Device device, int rematerialize) {
    Tensor *x = tensor_on(tensor_random_uniform(SHAPE(VIT_BATCH, VIT_TOKENS, VIT_DIM), -1.0f, 1.0f, 51), device);
    x->requires_grad = 1;
    params_zero_grad(ps);
    int prev = autograd_set_discarding(rematerialize);
    Tensor *y = vit_block_forward(b, x);
    autograd_set_discarding(prev);
    Tensor *w = tensor_on(tensor_random_uniform(SHAPE(VIT_BATCH, VIT_TOKENS, VIT_DIM), -1.0f, 1.0f, 52), device);
    autograd_backward(op_sum_all(op_mul(op_to_f32(y), w)));
    const int64_t nx = tensor_numel(x);
    float *g = malloc((size_t)(nx + ps->total) * sizeof *g);
    device_copy(g, DEVICE_CPU, x->grad, device, (size_t)nx * sizeof *g);
    device_copy(g + nx, DEVICE_CPU, ps->grads, ps->device, (size_t)ps->total * sizeof *g);
    autograd_step_end();
    return g;
}

static void check_vit_block_same_bits(Device device) {
    ParamSet ps;
    params_init(&ps);
    VitBlock b;
    vit_block_declare(&b, &ps, "vit", VIT_DIM, 4, 4 * VIT_DIM, 1e-6f);
    params_finalize(&ps);
    params_initialize(&ps, 5);
    if (device != DEVICE_CPU) params_to_device(&ps, device);
    autograd_step_end();
    int prev = autograd_set_rematerializing_on_cpu(1); /* off there by default */
    float *kept = vit_gradients(&b, &ps, device, 0), *remat = vit_gradients(&b, &ps, device, 1);
    autograd_set_rematerializing_on_cpu(prev);
    size_t n = (size_t)(VIT_BATCH * VIT_TOKENS * VIT_DIM + ps.total);
    ASSERT(memcmp(kept, remat, n * sizeof(float)) == 0);
    free(kept);
    free(remat);
    params_free(&ps);
}

TEST(test_vit_block_rematerializes_with_the_same_gradient_bits) { check_vit_block_same_bits(DEVICE_CPU); }

TEST(test_cuda_vit_block_rematerializes_with_the_same_gradient_bits_in_bf16) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    cuda_set_precision(PRECISION_BF16);
    check_vit_block_same_bits(DEVICE_CUDA);
    cuda_set_precision(PRECISION_FP32);
#endif
}
