/* Sparse (CSR) times dense: the GCN propagation Â·X of the PGR graph-text
 * model (spec/pgr_graph_text.md). Â is a constant of the graph, so only x
 * gets a gradient: dx += Âᵀ g. The CSR arrays are the caller's and must stay
 * alive until the backward has run; the node keeps a copy of the header.
 *
 * On a device the CSR arrays, host memory, are uploaded into the device's
 * activation arena for each call; the backward builds Âᵀ on the host, uploads
 * it and runs the same kernel on it, accumulating into dx. */
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"

/* A host CSR matrix with its arrays copied into the activation arena of `device`. */
static CsrMatrix csr_upload(const CsrMatrix *a, Device device) {
    Arena *arena = arena_activations_on(device);
    size_t ptr_bytes = (size_t)(a->rows + 1) * sizeof *a->row_ptr;
    size_t col_bytes = (size_t)a->nnz * sizeof *a->col_idx, val_bytes = (size_t)a->nnz * sizeof *a->values;
    int64_t *row_ptr = arena_alloc(arena, ptr_bytes);
    int32_t *col_idx = arena_alloc(arena, col_bytes);
    float *values = arena_alloc(arena, val_bytes);
    device_copy(row_ptr, device, a->row_ptr, DEVICE_CPU, ptr_bytes);
    device_copy(col_idx, device, a->col_idx, DEVICE_CPU, col_bytes);
    device_copy(values, device, a->values, DEVICE_CPU, val_bytes);
    CsrMatrix d = *a;
    d.row_ptr = row_ptr;
    d.col_idx = col_idx;
    d.values = values;
    return d;
}

/* Âᵀ on the host (CPU activation arena), by a stable counting sort on the
 * column: row c of Âᵀ lists its entries in increasing row of Â, the order in
 * which the CPU backward adds them into dx row c. */
static CsrMatrix csr_transpose(const CsrMatrix *a) {
    Arena *arena = arena_activations();
    int64_t *row_ptr = arena_alloc_zero(arena, (size_t)(a->cols + 1) * sizeof *row_ptr);
    int64_t *next = arena_alloc(arena, (size_t)(a->cols + 1) * sizeof *next);
    int32_t *col_idx = arena_alloc(arena, (size_t)a->nnz * sizeof *col_idx);
    float *values = arena_alloc(arena, (size_t)a->nnz * sizeof *values);
    for (int64_t e = 0; e < a->nnz; e++) row_ptr[a->col_idx[e] + 1]++;
    for (int64_t c = 0; c < a->cols; c++) row_ptr[c + 1] += row_ptr[c];
    memcpy(next, row_ptr, (size_t)(a->cols + 1) * sizeof *next);
    for (int64_t r = 0; r < a->rows; r++)
        for (int64_t e = a->row_ptr[r]; e < a->row_ptr[r + 1]; e++) {
            int64_t at = next[a->col_idx[e]]++;
            col_idx[at] = (int32_t)r;
            values[at] = a->values[e];
        }
    CsrMatrix t = {.rows = a->cols, .cols = a->rows, .nnz = a->nnz, .row_ptr = row_ptr, .col_idx = col_idx,
                   .values = values};
    return t;
}

/* y (+)= A x with A's arrays uploaded to x's device. */
static void spmm_on_device(const CsrMatrix *a, const float *x, float *y, int64_t D, Device device, int accumulate) {
    CsrMatrix d = csr_upload(a, device);
    device_kernels(device, "spmm")->spmm(d.row_ptr, d.col_idx, d.values, x, y, d.rows, D, accumulate);
}

static void spmm_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const CsrMatrix *a = node->saved;
    int64_t D = node->in[0]->shape[1];
    const float *g = node->out->grad;
    if (node->out->device != DEVICE_CPU) {
        CsrMatrix t = csr_transpose(a);
        spmm_on_device(&t, g, dx, D, node->out->device, 1);
        return;
    }
    /* Âᵀ scatters row r of g into the rows col_idx[...] of dx; several rows of
     * Â share a column, so threads own disjoint column blocks of dx instead. */
    const int64_t block = 64;
    int64_t n_blocks = (D + block - 1) / block;
#pragma omp parallel for if (a->nnz * D > 65536)
    for (int64_t cb = 0; cb < n_blocks; cb++) {
        int64_t d0 = cb * block, d1 = d0 + block < D ? d0 + block : D;
        for (int64_t r = 0; r < a->rows; r++)
            for (int64_t e = a->row_ptr[r]; e < a->row_ptr[r + 1]; e++) {
                float v = a->values[e];
                float *dst = dx + (int64_t)a->col_idx[e] * D;
                const float *src = g + r * D;
                for (int64_t d = d0; d < d1; d++) dst[d] += v * src[d];
            }
    }
}

Tensor *op_spmm(const CsrMatrix *a, Tensor *x) {
    x = op_to_f32(x);
    CHECK(x->dtype == DTYPE_F32 && tensor_is_contiguous(x) && x->ndim == 2, "spmm: x must be a contiguous f32 [C, D]");
    CHECK(a->cols == x->shape[0], "spmm: A has %lld columns, x has %lld rows", (long long)a->cols,
          (long long)x->shape[0]);
    CHECK(a->row_ptr[0] == 0 && a->row_ptr[a->rows] == a->nnz, "spmm: row_ptr spans [%lld, %lld), nnz is %lld",
          (long long)a->row_ptr[0], (long long)a->row_ptr[a->rows], (long long)a->nnz);
    for (int64_t r = 0; r < a->rows; r++)
        CHECK(a->row_ptr[r] <= a->row_ptr[r + 1], "spmm: row_ptr decreases at row %lld", (long long)r);
    for (int64_t e = 0; e < a->nnz; e++)
        CHECK(a->col_idx[e] >= 0 && a->col_idx[e] < a->cols, "spmm: column %d of entry %lld outside %lld columns",
              (int)a->col_idx[e], (long long)e, (long long)a->cols);
    int64_t D = x->shape[1];
    Tensor *out = tensor_new_on(x->device, DTYPE_F32, SHAPE(a->rows, D));
    const float *src = tensor_f32(x);
    float *y = tensor_f32(out);
    if (x->device != DEVICE_CPU)
        spmm_on_device(a, src, y, D, x->device, 0);
    else {
#pragma omp parallel for if (a->nnz * D > 65536)
        for (int64_t r = 0; r < a->rows; r++) {
            float *dst = y + r * D;
            memset(dst, 0, (size_t)D * sizeof *dst);
            for (int64_t e = a->row_ptr[r]; e < a->row_ptr[r + 1]; e++) {
                float v = a->values[e];
                const float *row = src + (int64_t)a->col_idx[e] * D;
                for (int64_t d = 0; d < D; d++) dst[d] += v * row[d];
            }
        }
    }
    TapeNode *node = tape_maybe_record("spmm", spmm_backward, out, x, NULL, NULL, NULL);
    if (node) {
        CsrMatrix *copy = arena_alloc(arena_activations(), sizeof *copy);
        *copy = *a;
        node->saved = copy;
    }
    return out;
}
