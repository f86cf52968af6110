/* Shape ops: concat, slice, split, reshape, permute.
 *
 * All outputs are fresh contiguous tensors except reshape, whose output shares
 * x's data (a contiguous reshape moves no element), on the device as on the
 * CPU. The backward passes move the upstream gradient back to where each
 * element came from and add it. On a device, every copy is one call of the
 * table's copy_blocks or permute (autograd/device_kernels.h), in the input's
 * type (bf16 activations under --precision bf16, issue 5 Precision); the
 * gradients are f32. */
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"


/* Product of the dims before `dim` and of the dims after it. */
static void split_at_dim(const Tensor *x, int dim, int64_t *outer, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) *inner *= x->shape[d];
}

/* Gradient of an input held outside node->in (same rule as tape_input_grad). */
static float *input_grad(Tensor *t) { return t->requires_grad ? tensor_grad_f32(t) : NULL; }

/* ---- concat ----
 * One node for any n: a tape node holds at most TAPE_MAX_INPUTS inputs in
 * in[], so the full list is node->in_list. Every input that requires a
 * gradient receives its block. */

static void concat_backward(TapeNode *node) {
    int dim = (int)node->i[0];
    int64_t outer = node->i[1], inner = node->i[2];
    int64_t total = node->out->shape[dim];
    const float *g = node->out->grad;
    Device device = node->out->device;
    int64_t start = 0;
    for (int k = 0; k < node->n_in_list; k++) {
        Tensor *x = node->in_list[k];
        int64_t len = x->shape[dim];
        float *dx = input_grad(x);
        if (dx && device != DEVICE_CPU) {
            device_kernels(device, "concat")
                ->copy_blocks(dx, len * inner, 0, g, total * inner, start * inner, outer, len * inner, DTYPE_F32, 1);
        } else if (dx) {
#pragma omp parallel for if (outer * len * inner > 65536)
            for (int64_t o = 0; o < outer; o++) {
                const float *src = g + (o * total + start) * inner;
                float *dst = dx + o * len * inner;
                for (int64_t e = 0; e < len * inner; e++) dst[e] += src[e];
            }
        }
        start += len;
    }
}

Tensor *op_concat(Tensor *const *inputs, int n, int dim) {
    CHECK(n >= 1, "concat: %d inputs", n);
    /* One output type: bf16 only when every input is, else all read as f32. */
    int all_bf16 = 1;
    for (int k = 0; k < n; k++) {
        ops_check_float(inputs[k], "concat", "every input");
        all_bf16 &= inputs[k]->dtype == DTYPE_BF16;
    }
    Tensor **xs = arena_alloc(arena_activations(), (size_t)n * sizeof *xs);
    for (int k = 0; k < n; k++) xs[k] = all_bf16 ? inputs[k] : op_to_f32(inputs[k]);
    int d = tensor_dim(xs[0], dim);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[d] = 0;
    Device device = xs[0]->device;
    for (int k = 0; k < n; k++) {
        CHECK(xs[k]->device == device, "concat: input %d is on the %s, input 0 on the %s", k,
              device_name(xs[k]->device), device_name(device));
        CHECK(xs[k]->ndim == xs[0]->ndim, "concat: input %d has %d dims, input 0 has %d", k, xs[k]->ndim,
              xs[0]->ndim);
        for (int e = 0; e < xs[0]->ndim; e++)
            CHECK(e == d || xs[k]->shape[e] == xs[0]->shape[e],
                  "concat: input %d dim %d is %lld, input 0 has %lld", k, e, (long long)xs[k]->shape[e],
                  (long long)xs[0]->shape[e]);
        shape[d] += xs[k]->shape[d];
    }
    Tensor *out = tensor_new_on(device, xs[0]->dtype, xs[0]->ndim, shape);
    int64_t outer, inner;
    split_at_dim(out, d, &outer, &inner);
    float *y = tensor_f32(out);
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        int64_t len = xs[k]->shape[d];
        const float *src = tensor_f32(xs[k]);
        if (device != DEVICE_CPU)
            device_kernels(device, "concat")
                ->copy_blocks(out->data, shape[d] * inner, start * inner, xs[k]->data, len * inner, 0, outer,
                              len * inner, out->dtype, 0);
        else {
#pragma omp parallel for if (outer * len * inner > 65536)
            for (int64_t o = 0; o < outer; o++)
                memcpy(y + (o * shape[d] + start) * inner, src + o * len * inner,
                       (size_t)(len * inner) * sizeof *y);
        }
        start += len;
    }
    if (tape_needs_grad(xs, n)) {
        TapeNode *node = tape_record("concat", concat_backward, out, xs, n < TAPE_MAX_INPUTS ? n : TAPE_MAX_INPUTS);
        node->in_list = xs; /* in the arena, as long-lived as the node */
        node->n_in_list = n;
        node->i[0] = d;
        node->i[1] = outer;
        node->i[2] = inner;
    }
    return out;
}

/* ---- slice ---- */

static void slice_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    int dim = (int)node->i[0];
    int64_t start = node->i[1], len = node->i[2], outer = node->i[3], inner = node->i[4];
    int64_t n = node->in[0]->shape[dim];
    const float *g = node->out->grad;
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "slice")
            ->copy_blocks(dx, n * inner, start * inner, g, len * inner, 0, outer, len * inner, DTYPE_F32, 1);
        return;
    }
#pragma omp parallel for if (outer * len * inner > 65536)
    for (int64_t o = 0; o < outer; o++) {
        float *dst = dx + (o * n + start) * inner;
        const float *src = g + o * len * inner;
        for (int64_t e = 0; e < len * inner; e++) dst[e] += src[e];
    }
}

Tensor *op_slice(Tensor *x, int dim, int64_t start, int64_t len) {
    ops_check_float(x, "slice", "x");
    int d = tensor_dim(x, dim);
    int64_t n = x->shape[d];
    CHECK(start >= 0 && len >= 0 && start + len <= n, "slice: [%lld, %lld) outside dim %d of size %lld",
          (long long)start, (long long)(start + len), d, (long long)n);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = len;
    Tensor *out = tensor_new_on(x->device, x->dtype, x->ndim, shape);
    int64_t outer, inner;
    split_at_dim(x, d, &outer, &inner);
    const float *src = tensor_f32(x);
    float *y = tensor_f32(out);
    if (x->device != DEVICE_CPU)
        device_kernels(x->device, "slice")->copy_blocks(out->data, len * inner, 0, x->data, n * inner, start * inner,
                                                        outer, len * inner, x->dtype, 0);
    else {
#pragma omp parallel for if (outer * len * inner > 65536)
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * len * inner, src + (o * n + start) * inner, (size_t)(len * inner) * sizeof *y);
    }
    TapeNode *node = tape_maybe_record("slice", slice_backward, out, x, NULL, NULL, NULL);
    if (node) {
        node->backward_reads = TAPE_READS_NONE;
        node->i[0] = d;
        node->i[1] = start;
        node->i[2] = len;
        node->i[3] = outer;
        node->i[4] = inner;
    }
    return out;
}

/* ---- split: one slice node per part, so each part's gradient flows on its own ---- */

void op_split(Tensor *x, int dim, const int64_t *sizes, int n, Tensor **outs) {
    int d = tensor_dim(x, dim);
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        CHECK(sizes[k] >= 0, "split: part %d has negative size %lld", k, (long long)sizes[k]);
        total += sizes[k];
    }
    CHECK(total == x->shape[d], "split: sizes sum to %lld, dim %d has %lld", (long long)total, d,
          (long long)x->shape[d]);
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        outs[k] = op_slice(x, d, start, sizes[k]);
        start += sizes[k];
    }
}

/* ---- reshape ---- */

static void reshape_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const float *g = node->out->grad;
    int64_t n = tensor_numel(node->out);
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "reshape")->scaled_add(dx, g, n, 1.0f);
        return;
    }
#pragma omp parallel for if (n > 65536)
    for (int64_t k = 0; k < n; k++) dx[k] += g[k];
}

Tensor *op_reshape(Tensor *x, int ndim, const int64_t *shape) {
    ops_check_float(x, "reshape", "x");
    /* A new record over the same data (and device): the output has its own
     * gradient buffer, which the backward adds into x's. */
    Tensor *out = tensor_view_reshape(x, ndim, shape);
    TapeNode *node = tape_maybe_record("reshape", reshape_backward, out, x, NULL, NULL, NULL);
    if (node) node->backward_reads = TAPE_READS_NONE;
    return out;
}

/* ---- permute ----
 * out[o_0, ..., o_{n-1}] = x[...] with x's dim perm[e] at coordinate o_e, so
 * the x offset of an output element is Σ_e o_e · x.stride[perm[e]]. The map is
 * a bijection: the backward adds g at the same offsets (the inverse
 * permutation) without write conflicts. */

static void permute_strides(const Tensor *x, const int64_t *perm, int64_t *src_stride) {
    for (int e = 0; e < x->ndim; e++) src_stride[e] = x->stride[perm[e]];
}

/* Calls body(dst_index, src_offset) for every output element, rows of the
 * last output dim at a time; parallel over rows. */
#define PERMUTE_LOOP(out, src_stride, STMT)                                                   \
    do {                                                                                      \
        int nd_ = (out)->ndim;                                                                \
        int64_t last_ = nd_ ? (out)->shape[nd_ - 1] : 1;                                      \
        int64_t ls_ = nd_ ? (src_stride)[nd_ - 1] : 0;                                        \
        int64_t rows_ = last_ ? tensor_numel(out) / last_ : 0;                                \
        _Pragma("omp parallel for if (rows_ * last_ > 65536)")                                \
        for (int64_t r_ = 0; r_ < rows_; r_++) {                                              \
            int64_t base_ = 0, rem_ = r_;                                                     \
            for (int e_ = nd_ - 2; e_ >= 0; e_--) {                                           \
                base_ += (rem_ % (out)->shape[e_]) * (src_stride)[e_];                        \
                rem_ /= (out)->shape[e_];                                                     \
            }                                                                                 \
            for (int64_t c_ = 0; c_ < last_; c_++) {                                          \
                int64_t dst = r_ * last_ + c_, src = base_ + c_ * ls_;                        \
                STMT;                                                                         \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* A header with x permuted's shape (contiguous, no data): the layout the
 * permute wrote, whatever shape its output presents (op_permute_to). */
static Tensor permuted_header(const Tensor *x, const int64_t *perm) {
    Tensor h = {0};
    h.ndim = x->ndim;
    for (int e = 0; e < x->ndim; e++) h.shape[e] = x->shape[perm[e]];
    return h;
}

static void permute_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const float *g = node->out->grad;
    const Tensor *x = node->in[0];
    Tensor permuted = permuted_header(x, node->i);
    if (node->out->device != DEVICE_CPU) {
        /* Permuting g by the inverse permutation lands each element where it
         * came from in x. */
        int inverse[TENSOR_MAX_DIMS];
        for (int e = 0; e < x->ndim; e++) inverse[node->i[e]] = e;
        device_kernels(node->out->device, "permute")
            ->permute(g, dx, DTYPE_F32, x->ndim, permuted.shape, inverse, 1);
        return;
    }
    int64_t src_stride[TENSOR_MAX_DIMS];
    permute_strides(x, node->i, src_stride);
    PERMUTE_LOOP(&permuted, src_stride, dx[src] += g[dst]);
}

/* out's memory = x permuted by perm (node->i on the tape), contiguous. */
static void permute_into(const Tensor *x, const int64_t *perm, Tensor *out) {
    if (x->device != DEVICE_CPU) {
        int p[TENSOR_MAX_DIMS];
        for (int e = 0; e < x->ndim; e++) p[e] = (int)perm[e];
        device_kernels(x->device, "permute")->permute(x->data, out->data, x->dtype, x->ndim, x->shape, p, 0);
        return;
    }
    Tensor permuted = permuted_header(x, perm);
    const float *a = tensor_f32(x);
    float *y = tensor_f32(out);
    int64_t src_stride[TENSOR_MAX_DIMS];
    permute_strides(x, perm, src_stride);
    PERMUTE_LOOP(&permuted, src_stride, y[dst] = a[src]);
}

/* The same copy again: the forward's bits (autograd_rematerialize). */
static void permute_recompute(TapeNode *node) { permute_into(node->in[0], node->i, node->out); }

/* Also op_permute's body, with the permuted shape. */
Tensor *op_permute_to(Tensor *x, const int *perm, int ndim, const int64_t *shape) {
    ops_check_float(x, "permute", "x");
    int64_t p[TENSOR_MAX_DIMS];
    int seen[TENSOR_MAX_DIMS] = {0};
    for (int e = 0; e < x->ndim; e++) {
        CHECK(perm[e] >= 0 && perm[e] < x->ndim && !seen[perm[e]], "permute: entry %d (%d) is not a permutation of %d dims",
              e, perm[e], x->ndim);
        seen[perm[e]] = 1;
        p[e] = perm[e];
    }
    Tensor *out = tensor_new_on(x->device, x->dtype, ndim, shape);
    CHECK(tensor_numel(out) == tensor_numel(x), "permute: %lld elements cannot take a shape of %lld",
          (long long)tensor_numel(x), (long long)tensor_numel(out));
    permute_into(x, p, out);
    TapeNode *node = tape_maybe_record("permute", permute_backward, out, x, NULL, NULL, NULL);
    if (node) {
        memcpy(node->i, p, (size_t)x->ndim * sizeof p[0]);
        node->backward_reads = TAPE_READS_NONE;
        node->recompute = permute_recompute;
    }
    return out;
}

Tensor *op_permute(Tensor *x, const int *perm) {
    int64_t shape[TENSOR_MAX_DIMS];
    for (int e = 0; e < x->ndim; e++) {
        CHECK(perm[e] >= 0 && perm[e] < x->ndim, "permute: entry %d (%d) is not a permutation of %d dims", e, perm[e],
              x->ndim);
        shape[e] = x->shape[perm[e]];
    }
    return op_permute_to(x, perm, x->ndim, shape);
}
