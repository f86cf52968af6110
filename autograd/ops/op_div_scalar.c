/* x / s for a scalar tensor s, differentiable in both (ALBEF's ITC logits
 * divide by the learnable temperature, spec/albef_blip.md §3.1). */
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"

static float scalar_value(const Tensor *s) {
    float v;
    tensor_copy_to_host(s, &v);
    return v;
}

/* The device path: x·(1/s) and g·(1/s) by the scale kernels; the scalar's
 * gradient −Σ g·x / s² from a product and a fixed-order sum, read back. */
static void div_by_scalar_backward_device(TapeNode *node, float s) {
    const Tensor *x = node->in[0], *out = node->out;
    const DeviceKernels *k = device_kernels(out->device, "div_by_scalar");
    int64_t n = tensor_numel(out);
    float *gx = tape_input_grad(node, 0);
    if (gx) k->scaled_add(gx, out->grad, n, 1.0f / s);
    float *gs = tape_input_grad(node, 1);
    if (gs) {
        Tensor *prod = tensor_new_on(out->device, DTYPE_F32, out->ndim, out->shape);
        Tensor *sum = tensor_new_on(out->device, DTYPE_F32, SHAPE(1));
        k->binary_forward(BINARY_MUL, out->grad, DTYPE_F32, x->data, DTYPE_F32, prod->data, DTYPE_F32, n, n);
        k->reduce_all_forward(tensor_f32(prod), tensor_f32(sum), n, 1.0f);
        float acc = scalar_value(sum), old;
        device_copy(&old, DEVICE_CPU, gs, out->device, sizeof old);
        old += (float)(-(double)acc / ((double)s * s));
        device_copy(gs, out->device, &old, DEVICE_CPU, sizeof old);
    }
}

static void div_by_scalar_backward(TapeNode *node) {
    const Tensor *x = node->in[0], *out = node->out;
    if (out->device != DEVICE_CPU) {
        div_by_scalar_backward_device(node, scalar_value(node->in[1]));
        return;
    }
    const float s = tensor_f32(node->in[1])[0];
    const float *g = (const float *)out->grad, *xv = tensor_f32(x);
    int64_t n = tensor_numel(out);
    float *gx = tape_input_grad(node, 0);
    if (gx)
        for (int64_t k = 0; k < n; k++) gx[k] += g[k] / s;
    float *gs = tape_input_grad(node, 1);
    if (gs) { /* d(x/s)/ds = -x/s² */
        double acc = 0.0;
        for (int64_t k = 0; k < n; k++) acc += (double)g[k] * xv[k];
        gs[0] += (float)(-acc / ((double)s * s));
    }
}

Tensor *op_div_by_scalar(Tensor *x, Tensor *s) {
    x = op_to_f32(x); /* bf16 similarities under --precision bf16: the logits are f32 (issue 5 Precision) */
    CHECK(tensor_numel(s) == 1 && tensor_is_contiguous(x), "div_by_scalar: s must have one element");
    Device dev = ops_device("div_by_scalar", x, s, NULL);
    Tensor *out = tensor_new_on(dev, DTYPE_F32, x->ndim, x->shape);
    int64_t n = tensor_numel(x);
    if (dev != DEVICE_CPU) {
        device_kernels(dev, "div_by_scalar")
            ->affine_forward(x->data, out->data, DTYPE_F32, n, 1.0f / scalar_value(s), 0.0f);
    } else {
        const float sv = tensor_f32(s)[0], *xv = tensor_f32(x);
        float *o = tensor_f32(out);
        for (int64_t k = 0; k < n; k++) o[k] = xv[k] / sv;
    }
    tape_maybe_record("div_by_scalar", div_by_scalar_backward, out, x, s, NULL, NULL);
    return out;
}
