#include "data/pgr_batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
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

static void *to_arena(void *p, size_t bytes) {
    void *q = arena_alloc(arena_activations(), bytes ? bytes : 1);
    memcpy(q, p, bytes);
    free(p);
    return q;
}

static void csr_to_arena(CsrMatrix *m) {
    m->row_ptr = to_arena((void *)m->row_ptr, (size_t)(m->rows + 1) * sizeof *m->row_ptr);
    m->col_idx = to_arena((void *)m->col_idx, (size_t)m->nnz * sizeof *m->col_idx);
    m->values = to_arena((void *)m->values, (size_t)m->nnz * sizeof *m->values);
}

void pgr_batch_move_to_arena(PgrBatch *b) {
    size_t bl = (size_t)(b->B * b->L) * sizeof(int32_t);
    b->ids = to_arena(b->ids, bl);
    b->mask = to_arena(b->mask, bl);
    b->labels = to_arena(b->labels, (size_t)b->B * sizeof(int32_t));
    b->node_global = to_arena(b->node_global, (size_t)b->n_nodes * sizeof(int32_t));
    b->targets = to_arena(b->targets, (size_t)(2 * b->B) * sizeof(int32_t));
    b->tokens = to_arena(b->tokens, (size_t)b->n_tokens * sizeof(int32_t));
    csr_to_arena(&b->adj);
    csr_to_arena(&b->pool);
}
