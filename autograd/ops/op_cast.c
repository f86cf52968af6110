/* Storage-type conversion between f32 and bf16 (issue 5 Precision). Under
 * --precision bf16 the matmul-class ops store their outputs in bf16; ops that
 * compute in f32 only (normalisations, softmax, reductions, losses, indexing)
 * read such a tensor through op_to_f32, as PyTorch autocast casts the inputs
 * of its f32 ops. Gradients are f32 on both sides, so the backward adds the
 * upstream gradient unchanged. */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

static void cast_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (dx) device_kernels(node->out->device, "cast")->scaled_add(dx, node->out->grad, tensor_numel(node->out), 1.0f);
}

/* The same conversion of the same input: the forward's bits again. */
static void cast_recompute(TapeNode *node) {
    device_kernels(node->out->device, "cast")
        ->convert(node->in[0]->data, node->in[0]->dtype, node->out->data, node->out->dtype, tensor_numel(node->out));
}

Tensor *op_cast(Tensor *x, DType dtype) {
    if (x->dtype == dtype) return x;
    CHECK((x->dtype == DTYPE_F32 || x->dtype == DTYPE_BF16) && (dtype == DTYPE_F32 || dtype == DTYPE_BF16),
          "cast: %s -> %s (only f32 and bf16 convert)", dtype_name(x->dtype), dtype_name(dtype));
    CHECK(x->device != DEVICE_CPU, "cast: bf16 tensors live on a device only (the CPU backend computes in f32)");
    CHECK(tensor_is_contiguous(x), "cast: needs a contiguous tensor");
    Tensor *out = tensor_new_on(x->device, dtype, x->ndim, x->shape);
    device_kernels(x->device, "cast")->convert(x->data, x->dtype, out->data, dtype, tensor_numel(x));
    TapeNode *node = tape_maybe_record("cast", cast_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_NONE;
        node->recompute = cast_recompute;
    }
    return out;
}

Tensor *op_to_product_type(Tensor *x) { return op_cast(x, ops_product_dtype(x->device, "cast")); }

Tensor *op_to_f32(Tensor *x) { return x->dtype == DTYPE_BF16 ? op_cast(x, DTYPE_F32) : x; }

void ops_check_float(const Tensor *t, const char *op, const char *what) {
    CHECK((t->dtype == DTYPE_F32 || (t->dtype == DTYPE_BF16 && t->device != DEVICE_CPU)) && tensor_is_contiguous(t),
          "%s: %s must be a contiguous f32 tensor (or bf16 on a device), not %s", op, what, dtype_name(t->dtype));
}
