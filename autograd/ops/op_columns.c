/* Rows of a tensor written into the columns of a ring buffer (ALBEF's ITC
 * feature queues, spec/albef_blip.md §3.1 step 8). On a device the rows never
 * leave it: the permute kernel transposes x to [E, B], then copy_blocks
 * writes it as one column block, or two when the write wraps. */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "core/error.h"

void op_write_columns(float *dst, int64_t Q, int64_t first, const Tensor *x) {
    CHECK(x->ndim == 2 && x->dtype == DTYPE_F32 && tensor_is_contiguous(x), "write_columns: x must be f32 [B, E]");
    int64_t B = x->shape[0], E = x->shape[1];
    CHECK(B <= Q && first >= 0 && first < Q, "write_columns: %lld rows into %lld columns from %lld", (long long)B,
          (long long)Q, (long long)first);
    if (x->device == DEVICE_CPU) {
        const float *v = tensor_f32(x);
        for (int64_t b = 0; b < B; b++) {
            int64_t col = (first + b) % Q;
            for (int64_t e = 0; e < E; e++) dst[e * Q + col] = v[b * E + e];
        }
        return;
    }
    const DeviceKernels *k = device_kernels(x->device, "write_columns");
    Tensor *cols = tensor_new_on(x->device, DTYPE_F32, SHAPE(E, B));
    const int transpose[2] = {1, 0};
    k->permute(x->data, cols->data, DTYPE_F32, 2, x->shape, transpose, 0);
    int64_t n_first = B < Q - first ? B : Q - first;
    k->copy_blocks(dst, Q, first, cols->data, B, 0, E, n_first, DTYPE_F32, 0);
    if (n_first < B) k->copy_blocks(dst, Q, 0, cols->data, B, n_first, E, B - n_first, DTYPE_F32, 0);
}
