/* Softmax and log-softmax over the last dim.
 *
 * Both subtract the row maximum before exponentiating, so no score overflows
 * exp; sums run in double. softmax takes an optional additive key mask [B, S]
 * (B = x.shape[0]) shared by every row of batch element b: attention scores
 * [B, H, T, S] with a key-padding mask. Softmax is invariant to adding one
 * constant to a whole row, so the mask is added in double: a row whose keys
 * all carry the same large negative value (a sequence that is all padding)
 * then still yields softmax(x) rather than the uniform vector that float
 * rounding of x - 1e9 would produce. Mask entries of -inf give probability 0;
 * a row masked entirely with -inf has no key to prefer, and is given
 * softmax(x), the limit of an equal finite mask, so every row is a valid
 * distribution. Rows of x itself are expected finite.
 *
 * On a device the same conventions hold in the kernels of
 * autograd/device_kernels.h (softmax_*, log_softmax_*). */
#include <math.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/ops/op_rows.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

#define PAR_MIN 16384 /* elements; exp makes rows costly enough to split early */

static void check_f32(const Tensor *t, const char *op) {
    CHECK(t->dtype == DTYPE_F32 && tensor_is_contiguous(t), "%s: needs contiguous f32 tensors", op);
}

/* One row: y = softmax(x + m) with the conventions above; m may be NULL. */
void ops_softmax_row(float *y, const float *x, const float *m, int64_t S) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < S; j++) {
        double z = (double)x[j] + (m ? (double)m[j] : 0.0);
        if (z > mx) mx = z;
    }
    if (mx == -INFINITY && m) { /* every key masked with -inf: ignore the mask */
        ops_softmax_row(y, x, NULL, S);
        return;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < S; j++) sum += exp((double)x[j] + (m ? (double)m[j] : 0.0) - mx);
    double inv = 1.0 / sum;
    for (int64_t j = 0; j < S; j++) y[j] = (float)(exp((double)x[j] + (m ? (double)m[j] : 0.0) - mx) * inv);
}

static double row_dot(const float *a, const float *b, int64_t S) {
    double s = 0.0;
    for (int64_t j = 0; j < S; j++) s += (double)a[j] * (double)b[j];
    return s;
}

static int all_neg_inf(const float *m, int64_t S) {
    for (int64_t j = 0; j < S; j++)
        if (m[j] != -INFINITY) return 0;
    return 1;
}

/* The device backward. The mask gradient skips -inf entries; the kernel adds
 * every entry's term, which is exactly 0 where a -inf key has probability 0,
 * so only a batch element whose whole mask row is -inf (given softmax(x),
 * nonzero) must be left out. Finding those reads the mask back to the host,
 * a wait paid only when a mask takes a gradient (no model's does). */
static void softmax_backward_device(TapeNode *node, float *dx, float *dm) {
    int64_t S = node->i[0], rows = node->i[1], per_batch = node->i[2];
    const DeviceKernels *k = device_kernels(node->out->device, "softmax");
    const float *y = tensor_f32(node->out), *g = node->out->grad;
    if (!dm || per_batch <= 0) {
        k->softmax_backward(y, g, dx, NULL, rows, S, per_batch);
        return;
    }
    int64_t B = rows / per_batch, n_skip = 0;
    float *m = arena_alloc(arena_activations(), (size_t)(B * S + 1) * sizeof *m);
    tensor_copy_to_host(node->in[1], m);
    for (int64_t b = 0; b < B; b++) n_skip += all_neg_inf(m + b * S, S);
    if (n_skip == 0) {
        k->softmax_backward(y, g, dx, dm, rows, S, per_batch);
    } else {
        k->softmax_backward(y, g, dx, NULL, rows, S, per_batch);
        for (int64_t b = 0; b < B; b++)
            if (!all_neg_inf(m + b * S, S))
                k->softmax_backward(y + b * per_batch * S, g + b * per_batch * S, NULL, dm + b * S, per_batch, S,
                                    per_batch);
    }
}

/* dz = y ⊙ (g - <g, y>) is the gradient of the pre-softmax scores z = x + m;
 * it flows unchanged to x, and to the mask summed over each batch's rows. */
static void softmax_backward(TapeNode *node) {
    int64_t S = node->i[0], rows = node->i[1], per_batch = node->i[2];
    const float *y = tensor_f32(node->out), *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    float *dm = node->n_in > 1 ? tape_input_grad(node, 1) : NULL;
    if (node->out->device != DEVICE_CPU) {
        softmax_backward_device(node, dx, dm);
        return;
    }
    if (dx) {
#pragma omp parallel for if (rows * S > PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * S, *gr = g + r * S;
            double dot = row_dot(gr, yr, S);
            for (int64_t j = 0; j < S; j++) dx[r * S + j] += (float)(yr[j] * (gr[j] - dot));
        }
    }
    if (dm && per_batch > 0) {
        const float *m = tensor_f32(node->in[1]);
        int64_t B = rows / per_batch;
        /* One thread per batch element: its rows all add into the same mask row. */
#pragma omp parallel for if (rows * S > PAR_MIN)
        for (int64_t b = 0; b < B; b++) {
            for (int64_t r = b * per_batch; r < (b + 1) * per_batch; r++) {
                const float *yr = y + r * S, *gr = g + r * S;
                double dot = row_dot(gr, yr, S);
                for (int64_t j = 0; j < S; j++)
                    if (isfinite(m[b * S + j])) dm[b * S + j] += (float)(yr[j] * (gr[j] - dot));
            }
        }
    }
}

Tensor *op_softmax(Tensor *x, Tensor *mask) {
    x = op_to_f32(x);
    if (mask) mask = op_to_f32(mask);
    check_f32(x, "softmax");
    Device dev = ops_device("softmax", x, mask, NULL);
    CHECK(x->ndim >= 1, "softmax of a scalar");
    int64_t S = x->shape[x->ndim - 1], rows = tensor_rows(x), per_batch = rows;
    if (mask) {
        check_f32(mask, "softmax mask");
        char sx[64], sm[64];
        CHECK(x->ndim >= 2 && mask->ndim == 2 && mask->shape[0] == x->shape[0] && mask->shape[1] == S,
              "softmax: mask %s does not fit scores %s (want [x.shape[0], last dim])",
              tensor_shape_str(mask, sm, sizeof sm), tensor_shape_str(x, sx, sizeof sx));
        per_batch = x->shape[0] ? rows / x->shape[0] : 0;
    }
    Tensor *out = tensor_new_on(dev, DTYPE_F32, x->ndim, x->shape);
    const float *xv = tensor_f32(x), *mv = mask ? tensor_f32(mask) : NULL;
    float *y = tensor_f32(out);
    if (dev != DEVICE_CPU) {
        device_kernels(dev, "softmax")->softmax_forward(xv, mv, y, rows, S, per_batch);
    } else {
#pragma omp parallel for if (rows * S > PAR_MIN)
        for (int64_t r = 0; r < rows; r++)
            ops_softmax_row(y + r * S, xv + r * S, mv ? mv + (r / per_batch) * S : NULL, S);
    }
    TapeNode *node = tape_maybe_record("softmax", softmax_backward, out, x, mask, NULL, NULL);
    if (node) {
        node->i[0] = S;
        node->i[1] = rows;
        node->i[2] = per_batch;
    }
    return out;
}

/* d log_softmax: dx = g - softmax(x) Σ g, with softmax(x) = exp(y). */
static void log_softmax_backward(TapeNode *node) {
    int64_t S = node->i[0], rows = node->i[1];
    const float *y = tensor_f32(node->out), *g = node->out->grad;
    float *dx = tape_input_grad(node, 0);
    if (node->out->device != DEVICE_CPU) {
        if (dx) device_kernels(node->out->device, "log_softmax")->log_softmax_backward(y, g, dx, rows, S);
        return;
    }
#pragma omp parallel for if (rows * S > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * S, *gr = g + r * S;
        double gs = 0.0;
        for (int64_t j = 0; j < S; j++) gs += gr[j];
        for (int64_t j = 0; j < S; j++) dx[r * S + j] += (float)(gr[j] - exp((double)yr[j]) * gs);
    }
}

Tensor *op_log_softmax(Tensor *x) {
    x = op_to_f32(x);
    check_f32(x, "log_softmax");
    CHECK(x->ndim >= 1, "log_softmax of a scalar");
    int64_t S = x->shape[x->ndim - 1], rows = tensor_rows(x);
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, x->ndim, x->shape);
    const float *xv = tensor_f32(x);
    float *y = tensor_f32(out);
    if (x->device != DEVICE_CPU) {
        device_kernels(x->device, "log_softmax")->log_softmax_forward(xv, y, rows, S);
    } else {
#pragma omp parallel for if (rows * S > PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = xv + r * S;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < S; j++) mx = xr[j] > mx ? xr[j] : mx;
            for (int64_t j = 0; j < S; j++) sum += exp((double)xr[j] - mx);
            double lse = mx + log(sum);
            for (int64_t j = 0; j < S; j++) y[r * S + j] = (float)((double)xr[j] - lse);
        }
    }
    TapeNode *node = tape_maybe_record("log_softmax", log_softmax_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->i[0] = S;
        node->i[1] = rows;
    }
    return out;
}
