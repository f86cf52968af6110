/* x / s for a scalar tensor s, differentiable in both (ALBEF's ITC logits
 * divide by the learnable temperature, spec/albef_blip.md §3.1). */

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

static void div_by_scalar_backward(TapeNode *node) {
    const Tensor *x = node->in[0], *out = node->out;
    float *gx = tape_input_grad(node, 0), *gs = tape_input_grad(node, 1);
    if (out->device != DEVICE_CPU) { /* s stays on the device (no read-back, no wait) */
        device_kernels(out->device, "div_by_scalar")
            ->div_by_scalar_backward(tensor_f32(x), tensor_f32(node->in[1]), out->grad, gx, gs, tensor_numel(out));
        return;
    }
    const float s = tensor_f32(node->in[1])[0];
    const float *g = (const float *)out->grad, *xv = tensor_f32(x);
    int64_t n = tensor_numel(out);
    if (gx)
        for (int64_t k = 0; k < n; k++) gx[k] += g[k] / s;
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
        device_kernels(dev, "div_by_scalar")->div_by_scalar_forward(tensor_f32(x), tensor_f32(s), tensor_f32(out), n);
    } else {
        const float sv = tensor_f32(s)[0], *xv = tensor_f32(x);
        float *o = tensor_f32(out);
        for (int64_t k = 0; k < n; k++) o[k] = xv[k] / sv;
    }
    tape_maybe_record("div_by_scalar", div_by_scalar_backward, out, x, s, NULL, NULL);
    return out;
}
