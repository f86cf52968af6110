/* Reductions: sum and mean over one dim (negative dims count from the end,
 * keepdim as in PyTorch) and over all elements. Sums accumulate in double so
 * the reference is not limited by float round-off on long rows. On a device
 * the backend's kernels do the same (autograd/device_kernels.h). */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

static void check_f32(const Tensor *x, const char *op) {
    CHECK(x->dtype == DTYPE_F32 && tensor_is_contiguous(x), "%s: needs a contiguous f32 tensor", op);
}

/* ---- over one dim: x viewed as [outer, n, inner] -> out [outer, inner] ---- */

static void reduce_dim_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    int64_t outer = node->i[0], n = node->i[1], inner = node->i[2];
    float scale = node->f[0]; /* 1 for sum, 1/n for mean */
    const float *g = node->out->grad;
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, node->op_name)->reduce_dim_backward(g, dx, outer, n, inner, scale);
        return;
    }
#pragma omp parallel for if (outer * n * inner > 65536)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n; j++) {
            float *dst = dx + (o * n + j) * inner;
            const float *src = g + o * inner;
            for (int64_t i = 0; i < inner; i++) dst[i] += scale * src[i];
        }
}

static Tensor *reduce_dim(Tensor *x, int dim, int keepdim, int mean, const char *op) {
    x = op_to_f32(x);
    check_f32(x, op);
    int d = tensor_dim(x, dim);
    int64_t outer = 1, inner = 1, n = x->shape[d];
    for (int e = 0; e < d; e++) outer *= x->shape[e];
    for (int e = d + 1; e < x->ndim; e++) inner *= x->shape[e];
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = 0;
    for (int e = 0; e < x->ndim; e++) {
        if (e != d) shape[nd++] = x->shape[e];
        else if (keepdim) shape[nd++] = 1;
    }
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, nd, shape);
    /* The mean of an empty dim is NaN as in PyTorch (0/0); its gradient scale is unused. */
    double scale = mean ? 1.0 / (double)n : 1.0;
    const float *a = tensor_f32(x);
    float *y = tensor_f32(out);
    if (x->device != DEVICE_CPU) {
        device_kernels(x->device, op)->reduce_dim_forward(a, y, outer, n, inner, (float)scale);
    } else {
#pragma omp parallel for collapse(2) if (outer * n * inner > 65536)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                double s = 0.0;
                for (int64_t j = 0; j < n; j++) s += a[(o * n + j) * inner + i];
                y[o * inner + i] = (float)(s * scale);
            }
    }
    TapeNode *node = tape_maybe_record(op, reduce_dim_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->i[0] = outer;
        node->i[1] = n;
        node->i[2] = inner;
        node->f[0] = (float)scale;
    }
    return out;
}

Tensor *op_sum(Tensor *x, int dim, int keepdim) { return reduce_dim(x, dim, keepdim, 0, "sum"); }
Tensor *op_mean(Tensor *x, int dim, int keepdim) { return reduce_dim(x, dim, keepdim, 1, "mean"); }

/* ---- over all elements -> scalar ---- */

static void reduce_all_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    int64_t n = tensor_numel(node->in[0]);
    if (node->out->device != DEVICE_CPU) { /* the upstream gradient stays on the device */
        device_kernels(node->out->device, node->op_name)->reduce_all_backward(node->out->grad, dx, n, node->f[0]);
        return;
    }
    float g = node->f[0] * ((const float *)node->out->grad)[0];
#pragma omp parallel for if (n > 65536)
    for (int64_t k = 0; k < n; k++) dx[k] += g;
}

static Tensor *reduce_all(Tensor *x, int mean, const char *op) {
    x = op_to_f32(x);
    check_f32(x, op);
    int64_t n = tensor_numel(x);
    const float *a = tensor_f32(x);
    double scale = mean ? 1.0 / (double)n : 1.0;
    Tensor *out;
    if (x->device != DEVICE_CPU) {
        out = tensor_new_on(x->device, DTYPE_F32, 0, NULL);
        device_kernels(x->device, op)->reduce_all_forward(a, tensor_f32(out), n, (float)scale);
    } else {
        double s = 0.0;
#pragma omp parallel for reduction(+ : s) if (n > 65536)
        for (int64_t k = 0; k < n; k++) s += a[k];
        out = tensor_scalar_f32((float)(s * scale));
    }
    TapeNode *node = tape_maybe_record(op, reduce_all_backward, out, x, NULL, NULL, NULL);
    if (node) node->f[0] = (float)scale;
    return out;
}

Tensor *op_sum_all(Tensor *x) { return reduce_all(x, 0, "sum_all"); }
Tensor *op_mean_all(Tensor *x) { return reduce_all(x, 1, "mean_all"); }
