/* Sparse (CSR) times dense: the GCN propagation Â·X of the PGR graph-text
 * model (spec/pgr_graph_text.md). Â is a constant of the graph, so only x
 * gets a gradient: dx += Âᵀ g. The CSR arrays are the caller's and must stay
 * alive until the backward has run; the node keeps a copy of the header. */
#include <string.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/arena.h"
#include "core/error.h"

static void spmm_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const CsrMatrix *a = node->saved;
    int64_t D = node->in[0]->shape[1];
    const float *g = node->out->grad;
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
    Tensor *out = tensor_new(DTYPE_F32, SHAPE(a->rows, D));
    const float *src = tensor_f32(x);
    float *y = tensor_f32(out);
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
    TapeNode *node = tape_maybe_record("spmm", spmm_backward, out, x, NULL, NULL, NULL);
    if (node) {
        CsrMatrix *copy = arena_alloc(arena_activations(), sizeof *copy);
        *copy = *a;
        node->saved = copy;
    }
    return out;
}
