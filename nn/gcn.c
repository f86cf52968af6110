/* Graph convolution layer (Kipf & Welling, spec/pgr_graph_text.md §4.3):
 * H' = Â H W + b with Â = D^-1/2 (A + I) D^-1/2 stored as CSR. */
#include "nn/gcn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

CsrMatrix gcn_normalized_adjacency(int64_t n_nodes, const int32_t *src, const int32_t *dst, int64_t n_edges) {
    CHECK(n_nodes > 0 && n_nodes < INT32_MAX, "gcn adjacency over %lld nodes", (long long)n_nodes);
    /* Pass 1: row lengths of the symmetric A + I before deduplication (each
     * undirected edge in both directions, plus one self loop per node). */
    int64_t *row_ptr = calloc((size_t)n_nodes + 1, sizeof *row_ptr);
    CHECK(row_ptr != NULL, "out of memory");
    for (int64_t e = 0; e < n_edges; e++) {
        CHECK(src[e] >= 0 && src[e] < n_nodes && dst[e] >= 0 && dst[e] < n_nodes,
              "edge %lld (%d, %d) outside %lld nodes", (long long)e, src[e], dst[e], (long long)n_nodes);
        row_ptr[src[e] + 1]++;
        row_ptr[dst[e] + 1]++;
    }
    for (int64_t r = 0; r < n_nodes; r++) row_ptr[r + 1] += row_ptr[r] + 1;
    int64_t cap = row_ptr[n_nodes];
    int32_t *cols = malloc((size_t)cap * sizeof *cols);
    int64_t *fill = malloc((size_t)n_nodes * sizeof *fill);
    CHECK(cols && fill, "out of memory");
    for (int64_t r = 0; r < n_nodes; r++) {
        fill[r] = row_ptr[r];
        cols[fill[r]++] = (int32_t)r;
    }
    for (int64_t e = 0; e < n_edges; e++) {
        cols[fill[src[e]]++] = dst[e];
        cols[fill[dst[e]]++] = src[e];
    }
    /* Pass 2: sort each row and drop repeats in place, so duplicate edges,
     * both orientations of one edge and explicit self loops count once. */
    int64_t nnz = 0;
    int64_t start = row_ptr[0];
    for (int64_t r = 0; r < n_nodes; r++) {
        int64_t end = row_ptr[r + 1];
        qsort(cols + start, (size_t)(end - start), sizeof *cols, cmp_i32);
        row_ptr[r] = nnz;
        for (int64_t k = start; k < end; k++)
            if (k == start || cols[k] != cols[k - 1]) cols[nnz++] = cols[k];
        start = end;
    }
    row_ptr[n_nodes] = nnz;
    free(fill);
    /* Degrees of A + I are the deduplicated row lengths (never 0: the self loop). */
    float *values = malloc((size_t)(nnz > 0 ? nnz : 1) * sizeof *values);
    double *inv_sqrt = malloc((size_t)n_nodes * sizeof *inv_sqrt);
    CHECK(values && inv_sqrt, "out of memory");
    for (int64_t r = 0; r < n_nodes; r++) inv_sqrt[r] = 1.0 / sqrt((double)(row_ptr[r + 1] - row_ptr[r]));
    for (int64_t r = 0; r < n_nodes; r++)
        for (int64_t k = row_ptr[r]; k < row_ptr[r + 1]; k++) values[k] = (float)(inv_sqrt[r] * inv_sqrt[cols[k]]);
    free(inv_sqrt);
    int32_t *shrunk = realloc(cols, (size_t)(nnz > 0 ? nnz : 1) * sizeof *cols);
    return (CsrMatrix){
        .rows = n_nodes, .cols = n_nodes, .nnz = nnz, .row_ptr = row_ptr,
        .col_idx = shrunk ? shrunk : cols, .values = values,
    };
}

void csr_free(CsrMatrix *m) {
    free((void *)m->row_ptr);
    free((void *)m->col_idx);
    free((void *)m->values);
    memset(m, 0, sizeof *m);
}

void gcn_layer_declare(GcnLayer *g, ParamSet *ps, const char *prefix, int in, int out) {
    linear_declare(&g->linear, ps, prefix, in, out, 1);
}

Tensor *gcn_layer_forward(const GcnLayer *g, const CsrMatrix *adj, Tensor *h) {
    CHECK(h->ndim == 2 && h->shape[0] == adj->cols, "gcn: features of %lld nodes, adjacency over %lld",
          (long long)h->shape[0], (long long)adj->cols);
    /* Transform first, then propagate: Â(HW) costs nnz·out instead of nnz·in,
     * and out <= in in the models (300 -> 100). The bias is added after the
     * propagation, as in Kipf & Welling (and PyG's GCNConv). */
    Tensor *hw = op_linear(h, g->linear.weight, NULL);
    Tensor *agg = op_spmm(adj, hw);
    return g->linear.bias ? op_bias_add(agg, g->linear.bias) : agg;
}
