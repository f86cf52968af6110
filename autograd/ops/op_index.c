/* Indexing ops: embedding lookup, index_select and gather (torch semantics).
 *
 * Index tensors are i32 and constant: they never receive a gradient. Every
 * index is range-checked in the forward pass, so the backward pass can trust
 * them. Backward scatters (+=) the upstream gradient to the rows that were
 * read; the same row may be read several times (a repeated token id, a
 * repeated index), so the scatter is ordered to avoid write races: threads own
 * disjoint destination blocks (columns of the table, or outer slices of x).
 *
 * On a device (autograd/device_kernels.h), x and the output live there and the
 * indices may live on either side: they are range-checked on the host (copied
 * back first when they live on the device: one small synchronous copy of
 * 4 bytes per index) and the kernels read a device copy (uploaded when they
 * come from the host, as the data layer makes them). The tape keeps the
 * device copy for the backward. */
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

/* x viewed as [outer, x.shape[dim], inner] (contiguous): the layout shared by
 * index_select and by the gradient scatter. */
static void split_at_dim(const Tensor *x, int dim, int64_t *outer, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) *inner *= x->shape[d];
}

static void check_f32(const Tensor *x, const char *op) {
    CHECK(x->dtype == DTYPE_F32 && tensor_is_contiguous(x), "%s: needs a contiguous f32 tensor", op);
}

/* Also checks that indices for a CPU op live on the CPU (a device x may take
 * indices from either side). */
static void check_i32(const Tensor *x, const Tensor *idx, const char *op) {
    CHECK(idx->dtype == DTYPE_I32 && tensor_is_contiguous(idx), "%s: indices must be contiguous i32", op);
    CHECK(x->device != DEVICE_CPU || idx->device == DEVICE_CPU, "%s: the input is on the cpu, its indices on the %s",
          op, device_name(idx->device));
}

/* The indices where the host can check them. */
static const int32_t *host_indices(const Tensor *idx) {
    if (idx->device == DEVICE_CPU) return tensor_i32(idx);
    int32_t *host = arena_alloc(arena_activations(), tensor_nbytes(idx));
    tensor_copy_to_host(idx, host);
    return host;
}

/* ---- embedding ---- */

static void embedding_backward(TapeNode *node) {
    float *dtable = tape_input_grad(node, 0);
    if (!dtable) return;
    const int32_t *ids = tensor_i32(node->in[1]);
    const float *g = node->out->grad;
    int64_t n = tensor_numel(node->in[1]);
    int64_t dim = node->in[0]->shape[1];
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "embedding")
            ->embedding_backward(ids, g, dtable, n, node->in[0]->shape[0], dim);
        return;
    }
    /* Columns are split among threads: a repeated id then adds into the same
     * row from one thread only, in id order (deterministic sums). */
    const int64_t block = 64;
    int64_t n_blocks = (dim + block - 1) / block;
#pragma omp parallel for if (n * dim > 65536)
    for (int64_t cb = 0; cb < n_blocks; cb++) {
        int64_t c0 = cb * block, c1 = c0 + block < dim ? c0 + block : dim;
        for (int64_t r = 0; r < n; r++) {
            float *dst = dtable + (int64_t)ids[r] * dim;
            const float *src = g + r * dim;
            for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

Tensor *op_embedding(Tensor *table, Tensor *ids) {
    check_f32(table, "embedding");
    check_i32(table, ids, "embedding");
    CHECK(table->ndim == 2, "embedding: table must be [V, D], got %d dims", table->ndim);
    CHECK(ids->ndim + 1 <= TENSOR_MAX_DIMS, "embedding: ids have too many dims (%d)", ids->ndim);
    int64_t vocab = table->shape[0], dim = table->shape[1];
    int64_t n = tensor_numel(ids);
    const int32_t *id = host_indices(ids);
    /* An out-of-range id is a bug upstream (tokenizer, vocab size mismatch):
     * abort naming the id, never read outside the table. */
    for (int64_t r = 0; r < n; r++)
        CHECK(id[r] >= 0 && id[r] < vocab, "embedding: id %d at position %lld outside table of %lld rows",
              (int)id[r], (long long)r, (long long)vocab);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, ids->shape, (size_t)ids->ndim * sizeof shape[0]);
    shape[ids->ndim] = dim;
    Tensor *out = tensor_new_on(table->device, DTYPE_F32, ids->ndim + 1, shape);
    const float *t = tensor_f32(table);
    float *y = tensor_f32(out);
    if (table->device != DEVICE_CPU) {
        ids = tensor_on(ids, table->device);
        device_kernels(table->device, "embedding")->embedding_forward(t, tensor_i32(ids), y, n, dim);
    } else {
#pragma omp parallel for if (n * dim > 65536)
        for (int64_t r = 0; r < n; r++) memcpy(y + r * dim, t + (int64_t)id[r] * dim, (size_t)dim * sizeof *y);
    }
    tape_maybe_record("embedding", embedding_backward, out, table, ids, NULL, NULL);
    return out;
}

/* ---- index_select ---- */

static void index_select_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    Tensor *x = node->in[0];
    int dim = (int)node->i[0];
    const int32_t *idx = tensor_i32(node->in[1]);
    int64_t m = tensor_numel(node->in[1]);
    int64_t outer, inner;
    split_at_dim(x, dim, &outer, &inner);
    int64_t n = x->shape[dim];
    const float *g = node->out->grad;
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "index_select")->index_select_backward(idx, g, dx, outer, n, m, inner);
        return;
    }
    /* Outer slices are disjoint in dx; within one, repeated indices add in order. */
#pragma omp parallel for if (outer > 1 && outer * m * inner > 65536)
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++) {
            float *dst = dx + (o * n + idx[j]) * inner;
            const float *src = g + (o * m + j) * inner;
            for (int64_t i = 0; i < inner; i++) dst[i] += src[i];
        }
}

static Tensor *index_select(Tensor *x, int dim, Tensor *idx, int check_range) {
    x = op_to_f32(x);
    check_f32(x, "index_select");
    check_i32(x, idx, "index_select");
    CHECK(idx->ndim == 1, "index_select: idx must be 1-d, got %d dims", idx->ndim);
    int d = tensor_dim(x, dim);
    int64_t n = x->shape[d], m = idx->shape[0];
    const int32_t *id = NULL;
    if (check_range || x->device == DEVICE_CPU) {
        id = host_indices(idx);
        for (int64_t j = 0; j < m; j++)
            CHECK(id[j] >= 0 && id[j] < n, "index_select: index %d at position %lld outside dim %d of size %lld",
                  (int)id[j], (long long)j, d, (long long)n);
    }
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[d] = m;
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, x->ndim, shape);
    int64_t outer, inner;
    split_at_dim(x, d, &outer, &inner);
    const float *src = tensor_f32(x);
    float *y = tensor_f32(out);
    if (x->device != DEVICE_CPU) {
        idx = tensor_on(idx, x->device);
        device_kernels(x->device, "index_select")->index_select_forward(src, tensor_i32(idx), y, outer, n, m, inner);
    } else {
#pragma omp parallel for collapse(2) if (outer * m * inner > 65536)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < m; j++)
                memcpy(y + (o * m + j) * inner, src + (o * n + id[j]) * inner, (size_t)inner * sizeof *y);
    }
    TapeNode *node = tape_maybe_record("index_select", index_select_backward, out, x, idx, NULL, NULL);
    if (node) node->i[0] = d;
    return out;
}

Tensor *op_index_select(Tensor *x, int dim, Tensor *idx) { return index_select(x, dim, idx, 1); }

Tensor *op_index_select_in_range(Tensor *x, int dim, Tensor *idx) { return index_select(x, dim, idx, 0); }

/* ---- gather ---- */

/* For element k of idx (row-major over idx's shape), the offset into x of the
 * element it selects: idx's multi-index with coordinate `dim` replaced by the
 * index value. torch.gather allows idx.shape[e] <= x.shape[e] for e != dim. */
static int64_t gather_offset(const Tensor *x, const Tensor *idx, int dim, int64_t k) {
    int64_t off = 0;
    for (int e = idx->ndim - 1; e >= 0; e--) {
        int64_t coord = k % idx->shape[e];
        k /= idx->shape[e];
        off += (e == dim ? 0 : coord) * x->stride[e];
    }
    return off;
}

static void gather_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    Tensor *x = node->in[0], *idx = node->in[1];
    int dim = (int)node->i[0];
    const int32_t *id = tensor_i32(idx);
    const float *g = node->out->grad;
    int64_t n = tensor_numel(idx);
    if (node->out->device != DEVICE_CPU) {
        int64_t outer, inner;
        split_at_dim(x, dim, &outer, &inner);
        device_kernels(node->out->device, "gather")
            ->gather_backward(id, g, dx, outer, x->shape[dim], idx->shape[dim], inner);
        return;
    }
    /* Serial: several idx elements may select the same x element. */
    for (int64_t k = 0; k < n; k++) dx[gather_offset(x, idx, dim, k) + (int64_t)id[k] * x->stride[dim]] += g[k];
}

Tensor *op_gather(Tensor *x, int dim, Tensor *idx) {
    x = op_to_f32(x);
    check_f32(x, "gather");
    check_i32(x, idx, "gather");
    CHECK(idx->ndim == x->ndim, "gather: idx has %d dims, x has %d", idx->ndim, x->ndim);
    int d = tensor_dim(x, dim);
    for (int e = 0; e < x->ndim; e++)
        CHECK(e == d || idx->shape[e] <= x->shape[e], "gather: idx dim %d is %lld, larger than x's %lld", e,
              (long long)idx->shape[e], (long long)x->shape[e]);
    /* The device kernels see x and idx as [outer, n or m, inner] with the same
     * outer and inner, so there idx must match x outside `dim`. */
    for (int e = 0; e < x->ndim; e++)
        CHECK(x->device == DEVICE_CPU || e == d || idx->shape[e] == x->shape[e],
              "gather: on the %s, idx dim %d (%lld) must equal x's (%lld)", device_name(x->device), e,
              (long long)idx->shape[e], (long long)x->shape[e]);
    const int32_t *id = host_indices(idx);
    int64_t n = tensor_numel(idx);
    for (int64_t k = 0; k < n; k++)
        CHECK(id[k] >= 0 && id[k] < x->shape[d], "gather: index %d at position %lld outside dim %d of size %lld",
              (int)id[k], (long long)k, d, (long long)x->shape[d]);
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, idx->ndim, idx->shape);
    const float *src = tensor_f32(x);
    float *y = tensor_f32(out);
    if (x->device != DEVICE_CPU) {
        idx = tensor_on(idx, x->device);
        int64_t outer, inner;
        split_at_dim(x, d, &outer, &inner);
        device_kernels(x->device, "gather")->gather_forward(src, tensor_i32(idx), y, outer, x->shape[d], idx->shape[d],
                                                            inner);
    } else {
#pragma omp parallel for if (n > 65536)
        for (int64_t k = 0; k < n; k++) y[k] = src[gather_offset(x, idx, d, k) + (int64_t)id[k] * x->stride[d]];
    }
    TapeNode *node = tape_maybe_record("gather", gather_backward, out, x, idx, NULL, NULL);
    if (node) node->i[0] = d;
    return out;
}
