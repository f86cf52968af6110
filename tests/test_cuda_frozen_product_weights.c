/* params_freeze_to_product_type (autograd/params.c): a frozen set on a
 * device under --precision bf16 keeps the weights that only products read
 * (Linear weights, marked by nn/layers.c) as bf16 alone, and everything else
 * in a smaller f32 block. A forward through it (Linear, GELU, Linear,
 * LayerNorm: the products read the bf16 weights, the norm its f32 weight)
 * gives the bits it gave before the conversion, with the f32 weights and
 * their bf16 copy; the device holds less; the CPU and fp32 are left alone.
 * Skips without a GPU. */
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "autograd/params.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "nn/layers.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

enum { IN = 40, HIDDEN = 70, ROWS = 24 };

typedef struct {
    ParamSet ps;
    Linear fc1, fc2;
    LayerNorm norm;
} Frozen;

/* fc1's 70-value bias leaves fc2's weight 8 bytes off a 16-byte boundary
 * in the f32 block; the bf16 block aligns each weight itself. */
static void frozen_init(Frozen *m) {
    params_init(&m->ps);
    linear_declare(&m->fc1, &m->ps, "fc1", IN, HIDDEN, 1);
    linear_declare(&m->fc2, &m->ps, "fc2", HIDDEN, IN, 1);
    layernorm_declare(&m->norm, &m->ps, "norm", IN, 1e-6f);
    params_finalize(&m->ps);
    params_initialize(&m->ps, 9);
    params_freeze(&m->ps);
}

#ifdef HAVE_CUDA
/* LayerNorm(fc2(GELU(fc1(x)))) as f32 on the host, without a tape. */
static void frozen_forward(const Frozen *m, Device device, float *out) {
    int prev = autograd_set_enabled(0);
    Tensor *x = tensor_on(tensor_random_uniform(SHAPE(ROWS, IN), -1.0f, 1.0f, 3), device);
    Tensor *y = layernorm_forward(&m->norm, linear_forward(&m->fc2, op_gelu(linear_forward(&m->fc1, x))));
    Tensor *host = tensor_on(op_to_f32(y), DEVICE_CPU);
    memcpy(out, tensor_f32(host), sizeof(float) * ROWS * IN);
    autograd_set_enabled(prev);
    autograd_step_end();
}
#endif

TEST(test_frozen_set_keeps_its_f32_weights_on_the_cpu) {
    Frozen m;
    frozen_init(&m);
    params_freeze_to_product_type(&m.ps);
    ASSERT(m.ps.product_values == NULL && m.fc1.weight->dtype == DTYPE_F32);
    params_free(&m.ps);
}

TEST(test_cuda_frozen_set_keeps_product_weights_in_bf16_with_the_same_bits) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    cuda_set_precision(PRECISION_BF16);
    Frozen m;
    frozen_init(&m);
    params_to_device(&m.ps, DEVICE_CUDA);
    static float before[ROWS * IN], after[ROWS * IN];
    frozen_forward(&m, DEVICE_CUDA, before); /* the weights' bf16 copy made here */
    size_t held = cuda_bytes_in_use();
    const int64_t total = m.ps.total;
    params_freeze_to_product_type(&m.ps);
    ASSERT(m.fc1.weight->dtype == DTYPE_BF16 && m.fc2.weight->dtype == DTYPE_BF16);
    ASSERT(m.fc1.bias->dtype == DTYPE_F32 && m.norm.weight->dtype == DTYPE_F32);
    ASSERT_EQ_INT(m.ps.total, total - (HIDDEN * IN + IN * HIDDEN));
    ASSERT((uintptr_t)m.fc2.weight->data % 256 == 0);
    /* 4 bytes a product weight and its 2-byte copy, for 2 bytes and alignment */
    ASSERT(cuda_bytes_in_use() < held - (size_t)(3 * HIDDEN * IN * 2));
    frozen_forward(&m, DEVICE_CUDA, after);
    ASSERT(memcmp(before, after, sizeof before) == 0);
    params_free(&m.ps);
    /* Under fp32 the products read f32: nothing changes. */
    cuda_set_precision(PRECISION_FP32);
    frozen_init(&m);
    params_to_device(&m.ps, DEVICE_CUDA);
    params_freeze_to_product_type(&m.ps);
    ASSERT(m.ps.product_values == NULL && m.fc1.weight->dtype == DTYPE_F32);
    params_free(&m.ps);
#endif
}
