/* CUDA parity of the activations (forward and backward) at shapes that are
 * and are not multiples of the kernels' block sizes. Skips without a GPU. */
#include "autograd/device_kernels.h"
#include "autograd/gelu_math.h"
#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

typedef Tensor *(*UnaryOp)(Tensor *);

static Tensor *apply_unary(Tensor **in, void *ctx) { return ((UnaryOp)ctx)(in[0]); }

static const int64_t SHAPES[][3] = {{1, 1, 1}, {3, 7, 1}, {257, 129, 1}, {4, 35, 768}};

static int check_all_shapes(const char *name, UnaryOp op) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        Tensor *x = tensor_random_uniform(SHAPE(SHAPES[s][0], SHAPES[s][1], SHAPES[s][2]), -4.0f, 4.0f, 30 + s);
        x->requires_grad = 1;
        if (cuda_parity_check(name, apply_unary, &x, 1, (void *)op, PARITY_TOL_FP32) != 0) return -1;
    }
    return 0;
}

TEST(test_cuda_gelu_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("gelu", op_gelu) == 0, "%s", error_message());
}

TEST(test_cuda_relu_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("relu", op_relu) == 0, "%s", error_message());
}

TEST(test_cuda_tanh_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("tanh", op_tanh) == 0, "%s", error_message());
}

TEST(test_cuda_sigmoid_parity) {
    if (!cuda_parity_ready()) return;
    ASSERT_MSG(check_all_shapes("sigmoid", op_sigmoid) == 0, "%s", error_message());
}

/* GELU's arithmetic is one function for both backends (autograd/gelu_math.h),
 * so the device kernels' values and derivatives are the CPU's bits, over both
 * tails. The kernels are called directly, with dx = 0 and g = 1, so that the
 * derivative is compared as computed (the op's backward adds it to a
 * gradient, whose rounding would hide a last-bit difference). On a card
 * (bench/gpu_check.sh's parity step) this is the check that no a·b + c of the
 * shared code was fused by nvcc and not by the CPU's compiler; the emulator's
 * g++ is allowed to fuse too, but fuses fewer of them than nvcc. */
TEST(test_cuda_gelu_kernels_give_the_cpus_bits) {
    if (!cuda_parity_ready()) return;
    const int64_t n = 1 << 16;
    Tensor *x = tensor_random_uniform(SHAPE(n), -14.0f, 14.0f, 77);
    Tensor *ones = tensor_new(DTYPE_F32, SHAPE(n));
    for (int64_t k = 0; k < n; k++) tensor_f32(ones)[k] = 1.0f;
    Tensor *xd = tensor_to_device(x, DEVICE_CUDA), *gd = tensor_to_device(ones, DEVICE_CUDA);
    Tensor *yd = tensor_zeros_on(DEVICE_CUDA, DTYPE_F32, SHAPE(n)), *dxd = tensor_zeros_on(DEVICE_CUDA, DTYPE_F32, SHAPE(n));
    const DeviceKernels *kern = device_kernels(DEVICE_CUDA, "gelu");
    kern->activation_forward(ACT_GELU, xd->data, yd->data, DTYPE_F32, n);
    kern->activation_backward(ACT_GELU, xd->data, yd->data, DTYPE_F32, tensor_f32(gd), tensor_f32(dxd), 0, n);
    Tensor *y = tensor_to_device(yd, DEVICE_CPU), *dx = tensor_to_device(dxd, DEVICE_CPU);
    for (int64_t k = 0; k < n; k++) {
        float v = tensor_f32(x)[k];
        ASSERT_MSG(tensor_f32(y)[k] == gelu_f32(v), "GELU(%.9g): device %.9g, CPU %.9g", v, tensor_f32(y)[k],
                   gelu_f32(v));
        ASSERT_MSG(tensor_f32(dx)[k] == gelu_grad_f32(v), "GELU'(%.9g): device %.9g, CPU %.9g", v,
                   tensor_f32(dx)[k], gelu_grad_f32(v));
    }
}
