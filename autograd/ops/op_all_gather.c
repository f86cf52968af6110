/* The all-gather of autograd/ops.h: a collective inside the tape. */
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"

/* d x = Σ over ranks of each rank's upstream gradient, this rank's rows. Every
 * rank runs this node at the same place of its backward pass (the same tape),
 * so the all-reduces pair up. */
static void all_gather_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    const Tensor *out = node->out;
    int64_t n_all = tensor_numel(out), n = tensor_numel(node->in[0]);
    Tensor *sum = tensor_new_on(out->device, DTYPE_F32, out->ndim, out->shape);
    device_copy(sum->data, out->device, out->grad, out->device, (size_t)n_all * sizeof(float));
    comm_allreduce_f32(out->device, tensor_f32(sum), n_all, COMM_SUM);
    if (!dx) return;
    const float *mine = tensor_f32(sum) + (int64_t)comm_rank() * n;
    if (out->device != DEVICE_CPU)
        device_kernels(out->device, "all_gather")->scaled_add(dx, mine, n, 1.0f);
    else
        for (int64_t k = 0; k < n; k++) dx[k] += mine[k];
}

Tensor *op_all_gather(Tensor *x) {
    x = op_to_f32(x);
    CHECK(tensor_is_contiguous(x) && x->ndim >= 1, "all_gather: x must be contiguous with a leading (batch) dim");
    if (comm_is_local(x->device)) return x;
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] *= comm_size();
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, x->ndim, shape);
    comm_allgather_f32(x->device, tensor_f32(x), tensor_f32(out), tensor_numel(x));
    tape_maybe_record("all_gather", all_gather_backward, out, x, NULL, NULL, NULL);
    return out;
}
