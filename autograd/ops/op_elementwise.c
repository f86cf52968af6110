/* Elementwise arithmetic: add, sub, mul with the broadcast of ops.h (b of a's
 * shape, b with one element, or b equal to a's trailing dims), scalar scale
 * and shift, and the bias add over the last dim.
 *
 * Every allowed broadcast makes a's flat index k read b[k mod nb], so one loop
 * serves all three cases; the backward for b sums the upstream gradient over
 * the rows of a viewed as [numel(a)/nb, nb]. On a device the same
 * arithmetic runs in the backend's kernels (autograd/device_kernels.h), which
 * also take bf16 operands (issue 5 Precision): the output keeps the widest
 * input type, so a bf16 product added to the f32 residual stream gives f32. */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

#define PAR_MIN 65536 /* below this, threads cost more than they save */

/* The output type of a binary op: bf16 only when both inputs are. */
static DType widest(const Tensor *a, const Tensor *b) {
    return a->dtype == DTYPE_BF16 && b->dtype == DTYPE_BF16 ? DTYPE_BF16 : DTYPE_F32;
}

/* The kernels when the op's tensors live on a device, else NULL (the CPU loops). */
static const DeviceKernels *device_of(const Tensor *t, const char *op) {
    return t->device == DEVICE_CPU ? NULL : device_kernels(t->device, op);
}

/* Checks that b broadcasts onto a as ops.h allows; returns numel(b). */
static int64_t broadcast_len(const Tensor *a, const Tensor *b, const char *op) {
    ops_check_float(a, op, "a");
    ops_check_float(b, op, "b");
    ops_device(op, a, b, NULL);
    int64_t nb = tensor_numel(b);
    int ok = nb == 1 || tensor_same_shape(a, b);
    if (!ok && b->ndim <= a->ndim) {
        ok = 1;
        for (int d = 0; d < b->ndim; d++) ok &= b->shape[d] == a->shape[a->ndim - b->ndim + d];
    }
    char sa[64], sb[64];
    CHECK(ok, "%s: %s does not broadcast onto %s (same shape, one element or trailing dims)", op,
          tensor_shape_str(b, sb, sizeof sb), tensor_shape_str(a, sa, sizeof sa));
    return nb;
}

/* db[j] += sign · Σ_r g[r·nb + j] · (m ? m[r·nb + j] : 1), over rows = n / nb.
 * Sums run in double and in a fixed order, independent of the thread count. */
static void reduce_broadcast(float *db, const float *g, const float *m, int64_t n, int64_t nb, float sign) {
    int64_t rows = n / nb;
    if (nb == 1) {
        /* One element: a fixed split into chunks, partial sums added in order. */
        enum { CHUNKS = 64 };
        double part[CHUNKS] = {0};
        int64_t len = (n + CHUNKS - 1) / CHUNKS;
#pragma omp parallel for if (n > PAR_MIN)
        for (int c = 0; c < CHUNKS; c++) {
            int64_t k0 = c * len, k1 = k0 + len < n ? k0 + len : n;
            double s = 0.0;
            for (int64_t k = k0; k < k1; k++) s += (double)g[k] * (m ? (double)m[k] : 1.0);
            part[c] = s;
        }
        double s = 0.0;
        for (int c = 0; c < CHUNKS; c++) s += part[c];
        db[0] += sign * (float)s;
        return;
    }
    enum { BLOCK = 64 };
    int64_t nblocks = (nb + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (n > PAR_MIN && nblocks > 1)
    for (int64_t jb = 0; jb < nblocks; jb++) {
        int64_t j0 = jb * BLOCK, j1 = j0 + BLOCK < nb ? j0 + BLOCK : nb;
        double acc[BLOCK] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *gr = g + r * nb, *mr = m ? m + r * nb : NULL;
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += (double)gr[j] * (mr ? (double)mr[j] : 1.0);
        }
        for (int64_t j = j0; j < j1; j++) db[j] += sign * (float)acc[j - j0];
    }
}

/* ---- add / sub / bias_add: y = a + sign·b ---- */

/* The device backward of add, sub and mul: a gradient this node writes
 * first is stored, not added to a zero fill (tape_input_grad_to_overwrite);
 * with no element (n = 0) nothing is written, so a broadcast b's gradient
 * is taken zeroed. */
static void binary_backward_on(const DeviceKernels *dev, BinaryOp op, TapeNode *node, int64_t n, int64_t nb) {
    int a_store = 0, b_store = 0;
    float *da = tape_input_grad_to_overwrite(node, 0, &a_store);
    float *db = n > 0 ? tape_input_grad_to_overwrite(node, 1, &b_store) : tape_input_grad(node, 1);
    const Tensor *a = node->in[0], *b = node->in[1];
    dev->binary_backward(op, a->data, a->dtype, b->data, b->dtype, node->out->grad, da, a_store, db, b_store, n, nb);
}

static void add_backward(TapeNode *node) {
    float sign = node->f[0];
    const float *g = node->out->grad;
    int64_t n = tensor_numel(node->out), nb = tensor_numel(node->in[1]);
    const DeviceKernels *dev = device_of(node->out, node->op_name);
    if (dev) {
        binary_backward_on(dev, sign > 0.0f ? BINARY_ADD : BINARY_SUB, node, n, nb);
        return;
    }
    float *da = tape_input_grad(node, 0), *db = tape_input_grad(node, 1);
    if (da) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t k = 0; k < n; k++) da[k] += g[k];
    }
    if (db) {
        if (nb == n) {
#pragma omp parallel for if (n > PAR_MIN)
            for (int64_t k = 0; k < n; k++) db[k] += sign * g[k];
        } else {
            reduce_broadcast(db, g, NULL, n, nb, sign);
        }
    }
}

static Tensor *add_signed(Tensor *a, Tensor *b, float sign, const char *op) {
    int64_t nb = broadcast_len(a, b, op);
    Tensor *out = tensor_new_on(a->device, widest(a, b), a->ndim, a->shape);
    const float *x = tensor_f32(a), *y = tensor_f32(b);
    float *o = tensor_f32(out);
    int64_t n = tensor_numel(a);
    const DeviceKernels *dev = device_of(a, op);
    if (dev) {
        dev->binary_forward(sign > 0.0f ? BINARY_ADD : BINARY_SUB, a->data, a->dtype, b->data, b->dtype, out->data,
                            out->dtype, n, nb);
    } else if (nb == n) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t k = 0; k < n; k++) o[k] = x[k] + sign * y[k];
    } else {
        /* Row by row over [n/nb, nb]: no modulo in the inner loop. */
        int64_t rows = n / nb;
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < nb; j++) o[r * nb + j] = x[r * nb + j] + sign * y[j];
    }
    TapeNode *node = tape_maybe_record(op, add_backward, out, a, b, NULL, NULL);
    if (node) {
        node->f[0] = sign;
        node->backward_reads = TAPE_READS_NONE;
    }
    return out;
}

Tensor *op_add(Tensor *a, Tensor *b) { return add_signed(a, b, 1.0f, "add"); }
Tensor *op_sub(Tensor *a, Tensor *b) { return add_signed(a, b, -1.0f, "sub"); }

Tensor *op_bias_add(Tensor *x, Tensor *bias) {
    char sx[64], sb[64];
    CHECK(x->ndim >= 1 && bias->ndim == 1 && bias->shape[0] == x->shape[x->ndim - 1],
          "bias_add: bias %s does not match the last dim of %s", tensor_shape_str(bias, sb, sizeof sb),
          tensor_shape_str(x, sx, sizeof sx));
    return add_signed(x, bias, 1.0f, "bias_add");
}

/* ---- mul ---- */

static void mul_backward(TapeNode *node) {
    const float *g = node->out->grad;
    const float *x = tensor_f32(node->in[0]), *y = tensor_f32(node->in[1]);
    int64_t n = tensor_numel(node->out), nb = tensor_numel(node->in[1]);
    const DeviceKernels *dev = device_of(node->out, node->op_name);
    if (dev) {
        binary_backward_on(dev, BINARY_MUL, node, n, nb);
        return;
    }
    float *da = tape_input_grad(node, 0), *db = tape_input_grad(node, 1);
    if (da) {
        if (nb == n) { /* flat, so threads split the elements, not one "row" */
#pragma omp parallel for if (n > PAR_MIN)
            for (int64_t k = 0; k < n; k++) da[k] += g[k] * y[k];
        } else {
            int64_t rows = n / nb;
#pragma omp parallel for if (n > PAR_MIN)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < nb; j++) da[r * nb + j] += g[r * nb + j] * y[j];
        }
    }
    if (db) {
        if (nb == n) {
#pragma omp parallel for if (n > PAR_MIN)
            for (int64_t k = 0; k < n; k++) db[k] += g[k] * x[k];
        } else {
            reduce_broadcast(db, g, x, n, nb, 1.0f);
        }
    }
}

Tensor *op_mul(Tensor *a, Tensor *b) {
    int64_t nb = broadcast_len(a, b, "mul");
    Tensor *out = tensor_new_on(a->device, widest(a, b), a->ndim, a->shape);
    const float *x = tensor_f32(a), *y = tensor_f32(b);
    float *o = tensor_f32(out);
    int64_t n = tensor_numel(a);
    const DeviceKernels *dev = device_of(a, "mul");
    if (dev) {
        dev->binary_forward(BINARY_MUL, a->data, a->dtype, b->data, b->dtype, out->data, out->dtype, n, nb);
    } else if (nb == n) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t k = 0; k < n; k++) o[k] = x[k] * y[k];
    } else {
        int64_t rows = n / nb; /* nb > 0 here: nb = 0 only when a is empty too */
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < nb; j++) o[r * nb + j] = x[r * nb + j] * y[j];
    }
    tape_maybe_record("mul", mul_backward, out, a, b, NULL, NULL);
    return out;
}

/* ---- scalar scale and shift ---- */

static void scale_backward(TapeNode *node) {
    float s = node->f[0];
    const float *g = node->out->grad;
    float *da = tape_input_grad(node, 0);
    int64_t n = tensor_numel(node->out);
    const DeviceKernels *dev = device_of(node->out, node->op_name);
    if (dev) {
        dev->scaled_add(da, g, n, s);
        return;
    }
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t k = 0; k < n; k++) da[k] += s * g[k];
}

Tensor *op_scale(Tensor *a, float s) {
    ops_check_float(a, "scale", "x");
    Tensor *out = tensor_new_on(a->device, a->dtype, a->ndim, a->shape);
    const float *x = tensor_f32(a);
    float *o = tensor_f32(out);
    int64_t n = tensor_numel(a);
    const DeviceKernels *dev = device_of(a, "scale");
    if (dev) {
        dev->affine_forward(a->data, out->data, a->dtype, n, s, 0.0f);
    } else {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t k = 0; k < n; k++) o[k] = x[k] * s;
    }
    TapeNode *node = tape_maybe_record("scale", scale_backward, out, a, NULL, NULL, NULL);
    if (node) node->f[0] = s;
    return out;
}

/* d(a + s)/da = 1: the gradient passes through unchanged. */
static void add_scalar_backward(TapeNode *node) {
    const float *g = node->out->grad;
    float *da = tape_input_grad(node, 0);
    int64_t n = tensor_numel(node->out);
    const DeviceKernels *dev = device_of(node->out, node->op_name);
    if (dev) {
        dev->scaled_add(da, g, n, 1.0f);
        return;
    }
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t k = 0; k < n; k++) da[k] += g[k];
}

Tensor *op_add_scalar(Tensor *a, float s) {
    ops_check_float(a, "add_scalar", "x");
    Tensor *out = tensor_new_on(a->device, a->dtype, a->ndim, a->shape);
    const float *x = tensor_f32(a);
    float *o = tensor_f32(out);
    int64_t n = tensor_numel(a);
    const DeviceKernels *dev = device_of(a, "add_scalar");
    if (dev) {
        dev->affine_forward(a->data, out->data, a->dtype, n, 1.0f, s);
    } else {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t k = 0; k < n; k++) o[k] = x[k] + s;
    }
    tape_maybe_record("add_scalar", add_scalar_backward, out, a, NULL, NULL, NULL);
    return out;
}
