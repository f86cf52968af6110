/* A batch of PGR samples on the host: the sentences' tokens and one graph
 * holding the B enclosing subgraphs side by side (block diagonal), as PyTorch
 * Geometric batches them (spec/pgr_graph_text.md §2.2), with what the GCN
 * reads already built:
 *   adj       Â = D^-1/2 (A + I) D^-1/2 of the batch graph (nn/gcn.h)
 *   targets   [2B] batch-graph rows of (u_b, v_b): 2b is the gene, 2b+1 the phenotype
 *   tokens, pool   the name word pieces of every batch node, and the [n_nodes,
 *             n_tokens] CSR whose row averages a node's pieces (values 1/count),
 *             so node features are spmm(pool, embedding(tokens))
 *   node_global   the graph node of each batch node (per-node features) */
#ifndef DATA_PGR_BATCH_H
#define DATA_PGR_BATCH_H

#include <stdint.h>

#include "autograd/ops.h"
#include "data/pgr_corpus.h"

typedef struct {
    int64_t B, L;                 /* L: the longest unpadded text of the batch */
    int32_t *ids, *mask, *labels; /* [B, L], [B, L], [B] */
    int64_t n_nodes;
    int32_t *node_global;         /* [n_nodes] */
    int32_t *targets;             /* [2B] */
    CsrMatrix adj;                /* [n_nodes, n_nodes] */
    int64_t n_tokens;
    int32_t *tokens;              /* [n_tokens] */
    CsrMatrix pool;               /* [n_nodes, n_tokens] */
} PgrBatch;

/* Samples idx[0..n) of s; node_tokens [n_graph_nodes, name_len] with counts
 * (PgrCorpus). L = the samples' token rows' length; the batch keeps the
 * first b->L <= L columns, up to its longest unpadded row. */
void pgr_batch_build(PgrBatch *b, const PgrSamples *s, const int64_t *idx, int64_t n, int L,
                     const int32_t *node_tokens, const int32_t *node_token_count, int name_len);
void pgr_batch_free(PgrBatch *b);
/* Moves the batch's arrays into the CPU activation arena (and frees the
 * heap copies): the batch then lives until autograd_step_end(), as the
 * tensors built from it, and must not be passed to pgr_batch_free. */
void pgr_batch_move_to_arena(PgrBatch *b);

#endif
