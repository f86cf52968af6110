/* Pointwise activations: GELU (exact erf form, as BERT/ViT in PyTorch's
 * nn.GELU default), ReLU, tanh, sigmoid. Each backward multiplies the
 * upstream gradient by the derivative at the saved input or output. */
#include <math.h>

#include "autograd/device_kernels.h"
#include "autograd/gelu_math.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

/* The output keeps x's type: f32, or bf16 on a device (issue 5 Precision). */
static Tensor *pointwise_output(Tensor *x, const char *op) {
    ops_check_float(x, op, "x");
    return tensor_new_on(x->device, x->dtype, x->ndim, x->shape);
}

/* The device path of every activation: one kernel each way. */
static int on_device_forward(Activation act, Tensor *x, Tensor *out, const char *op) {
    if (x->device == DEVICE_CPU) return 0;
    device_kernels(x->device, op)->activation_forward(act, x->data, out->data, x->dtype, tensor_numel(x));
    return 1;
}

static int on_device_backward(Activation act, TapeNode *node) {
    if (node->out->device == DEVICE_CPU) return 0;
    int store;
    float *dx = tape_input_grad_to_overwrite(node, 0, &store);
    if (dx)
        device_kernels(node->out->device, node->op_name)
            ->activation_backward(act, node->in[0]->data, node->out->data, node->out->dtype, node->out->grad, dx,
                                  store, tensor_numel(node->out));
    return 1;
}

/* GELU's arithmetic is autograd/gelu_math.h's, shared with the CUDA kernel
 * so that both backends give the same bits. */
static void gelu_backward(TapeNode *node) {
    if (on_device_backward(ACT_GELU, node)) return;
    const float *x = tensor_f32(node->in[0]);
    const float *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    int64_t n = tensor_numel(node->out);
#pragma omp parallel for simd if (n > 65536)
    for (int64_t k = 0; k < n; k++) dx[k] += g[k] * gelu_grad_f32(x[k]);
}

static void gelu_compute(Tensor *x, Tensor *out) {
    if (on_device_forward(ACT_GELU, x, out, "gelu")) return;
    const float *a = tensor_f32(x);
    float *y = tensor_f32(out);
    int64_t n = tensor_numel(x);
#pragma omp parallel for simd if (n > 65536)
    for (int64_t k = 0; k < n; k++) y[k] = gelu_f32(a[k]);
}

/* The same kernel on the same input: the forward's bits again. */
static void gelu_recompute(TapeNode *node) { gelu_compute(node->in[0], node->out); }

/* GELU's derivative is a function of x alone: the output is not read, and
 * it can be recomputed from x (autograd_rematerialize). */
Tensor *op_gelu(Tensor *x) {
    Tensor *out = pointwise_output(x, "gelu");
    gelu_compute(x, out);
    TapeNode *node = tape_maybe_record("gelu", gelu_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_IN(0);
        node->recompute = gelu_recompute;
    }
    return out;
}

static void relu_backward(TapeNode *node) {
    if (on_device_backward(ACT_RELU, node)) return;
    const float *x = tensor_f32(node->in[0]);
    const float *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    int64_t n = tensor_numel(node->out);
    for (int64_t k = 0; k < n; k++) dx[k] += x[k] > 0.0f ? g[k] : 0.0f;
}

Tensor *op_relu(Tensor *x) {
    Tensor *out = pointwise_output(x, "relu");
    if (on_device_forward(ACT_RELU, x, out, "relu")) {
        tape_maybe_record("relu", relu_backward, out, x, NULL, NULL, NULL);
        return out;
    }
    const float *a = tensor_f32(x);
    float *y = tensor_f32(out);
    int64_t n = tensor_numel(x);
    for (int64_t k = 0; k < n; k++) y[k] = a[k] > 0.0f ? a[k] : 0.0f;
    tape_maybe_record("relu", relu_backward, out, x, NULL, NULL, NULL);
    return out;
}

static void tanh_backward(TapeNode *node) {
    if (on_device_backward(ACT_TANH, node)) return;
    const float *y = tensor_f32(node->out);
    const float *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    int64_t n = tensor_numel(node->out);
    for (int64_t k = 0; k < n; k++) dx[k] += g[k] * (1.0f - y[k] * y[k]);
}

Tensor *op_tanh(Tensor *x) {
    Tensor *out = pointwise_output(x, "tanh");
    if (on_device_forward(ACT_TANH, x, out, "tanh")) {
        tape_maybe_record("tanh", tanh_backward, out, x, NULL, NULL, NULL);
        return out;
    }
    const float *a = tensor_f32(x);
    float *y = tensor_f32(out);
    int64_t n = tensor_numel(x);
    for (int64_t k = 0; k < n; k++) y[k] = tanhf(a[k]);
    tape_maybe_record("tanh", tanh_backward, out, x, NULL, NULL, NULL);
    return out;
}

static void sigmoid_backward(TapeNode *node) {
    if (on_device_backward(ACT_SIGMOID, node)) return;
    const float *y = tensor_f32(node->out);
    const float *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    int64_t n = tensor_numel(node->out);
    for (int64_t k = 0; k < n; k++) dx[k] += g[k] * y[k] * (1.0f - y[k]);
}

Tensor *op_sigmoid(Tensor *x) {
    Tensor *out = pointwise_output(x, "sigmoid");
    if (on_device_forward(ACT_SIGMOID, x, out, "sigmoid")) {
        tape_maybe_record("sigmoid", sigmoid_backward, out, x, NULL, NULL, NULL);
        return out;
    }
    const float *a = tensor_f32(x);
    float *y = tensor_f32(out);
    int64_t n = tensor_numel(x);
    for (int64_t k = 0; k < n; k++) y[k] = 1.0f / (1.0f + expf(-a[k]));
    tape_maybe_record("sigmoid", sigmoid_backward, out, x, NULL, NULL, NULL);
    return out;
}
