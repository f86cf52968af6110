#include "data/pgr_batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/gcn.h"

void pgr_batch_build(PgrBatch *b, const PgrSamples *s, const int64_t *idx, int64_t n, int L,
                     const int32_t *node_tokens, const int32_t *node_token_count, int name_len) {
    memset(b, 0, sizeof *b);
    CHECK(n > 0, "pgr batch: no samples");
    /* Pad to the batch's longest text: the columns cut are padding of every
     * row, masked out, so no result changes (as pad-to-longest batching). */
    int64_t longest = 2;
    for (int64_t k = 0; k < n; k++) {
        int64_t len = 0;
        for (int64_t j = 0; j < L; j++) len += s->mask[idx[k] * L + j] != 0;
        if (len > longest) longest = len;
    }
    b->B = n;
    b->L = longest;
    b->ids = malloc((size_t)(n * L) * sizeof *b->ids);
    b->mask = malloc((size_t)(n * L) * sizeof *b->mask);
    b->labels = malloc((size_t)n * sizeof *b->labels);
    b->targets = malloc((size_t)(2 * n) * sizeof *b->targets);
    CHECK(b->ids && b->mask && b->labels && b->targets, "out of memory");
    int64_t n_nodes = 0, n_edges = 0;
    for (int64_t k = 0; k < n; k++) {
        CHECK(idx[k] >= 0 && idx[k] < s->n, "pgr batch: sample %lld of %lld", (long long)idx[k], (long long)s->n);
        n_nodes += s->graph[idx[k]].n_nodes;
        n_edges += s->graph[idx[k]].n_edges;
    }
    b->n_nodes = n_nodes;
    b->node_global = malloc((size_t)n_nodes * sizeof *b->node_global);
    int32_t *src = malloc((size_t)(n_edges ? n_edges : 1) * sizeof *src);
    int32_t *dst = malloc((size_t)(n_edges ? n_edges : 1) * sizeof *dst);
    CHECK(b->node_global && src && dst, "out of memory");
    int64_t base = 0, e = 0, n_tokens = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = idx[k];
        const PgrSubgraph *g = &s->graph[i];
        memcpy(b->ids + k * b->L, s->ids + i * L, (size_t)b->L * sizeof *b->ids);
        memcpy(b->mask + k * b->L, s->mask + i * L, (size_t)b->L * sizeof *b->mask);
        b->labels[k] = s->label[i];
        b->targets[2 * k] = (int32_t)base;     /* local node 0: the gene */
        b->targets[2 * k + 1] = (int32_t)(base + 1); /* local node 1: the phenotype */
        for (int64_t j = 0; j < g->n_nodes; j++) {
            b->node_global[base + j] = g->nodes[j];
            n_tokens += node_token_count[g->nodes[j]];
        }
        for (int64_t j = 0; j < g->n_edges; j++, e++) {
            src[e] = (int32_t)(base + g->src[j]);
            dst[e] = (int32_t)(base + g->dst[j]);
        }
        base += g->n_nodes;
    }
    b->adj = gcn_normalized_adjacency(n_nodes, src, dst, n_edges);
    free(src);
    free(dst);
    /* The mean-pooling CSR: row j lists node j's pieces, each weighted 1/count. */
    b->n_tokens = n_tokens;
    b->tokens = malloc((size_t)n_tokens * sizeof *b->tokens);
    int64_t *row_ptr = malloc((size_t)(n_nodes + 1) * sizeof *row_ptr);
    int32_t *col = malloc((size_t)n_tokens * sizeof *col);
    float *val = malloc((size_t)n_tokens * sizeof *val);
    CHECK(b->tokens && row_ptr && col && val, "out of memory");
    int64_t t = 0;
    row_ptr[0] = 0;
    for (int64_t j = 0; j < n_nodes; j++) {
        int32_t node = b->node_global[j], cnt = node_token_count[node];
        for (int32_t q = 0; q < cnt; q++, t++) {
            b->tokens[t] = node_tokens[(int64_t)node * name_len + q];
            col[t] = (int32_t)t;
            val[t] = 1.0f / (float)cnt;
        }
        row_ptr[j + 1] = t;
    }
    b->pool = (CsrMatrix){.rows = n_nodes, .cols = n_tokens, .nnz = n_tokens, .row_ptr = row_ptr, .col_idx = col,
                          .values = val};
}

void pgr_batch_free(PgrBatch *b) {
    free(b->ids);
    free(b->mask);
    free(b->labels);
    free(b->node_global);
    free(b->targets);
    free(b->tokens);
    csr_free(&b->adj);
    csr_free(&b->pool);
    memset(b, 0, sizeof *b);
}
