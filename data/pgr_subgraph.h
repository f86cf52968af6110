/* A sample's graph: the 1-hop enclosing subgraph of its gene u and phenotype v
 * (spec/pgr_graph_text.md §2.3, §4.2 step 3): the nodes {u, v} ∪ N(u) ∪ N(v)
 * and every graph edge among them. Local node 0 is u, 1 is v (GTNN's
 * set_indices). The pair's own edge is left out unless keep_target_edge: in
 * the co-mention graph every sample's pair is an edge, and in an annotation
 * graph that edge is the label itself (the leak of §2.3). Hubs (Neoplasm,
 * HP:0002664) have thousands of neighbours, so at most max_nodes nodes are
 * kept: u, v, then neighbours drawn uniformly without replacement by a Philox
 * stream keyed by the pair, so a sample gets the same subgraph every epoch. */
#ifndef DATA_PGR_SUBGRAPH_H
#define DATA_PGR_SUBGRAPH_H

#include <stdint.h>

#include "data/pgr_graph.h"

typedef struct {
    int max_nodes;        /* >= 2; 0 = no cap */
    int keep_target_edge; /* 1: keep the u-v edge (the leaky variant, §4.2 step 3) */
    uint64_t seed;        /* of the neighbour sampling */
} PgrSubgraphOptions;

typedef struct {
    int64_t n_nodes;
    int32_t *nodes;       /* global node per local node; [0] = u, [1] = v */
    int64_t n_edges;      /* undirected, each once, local indices */
    int32_t *src, *dst;
} PgrSubgraph;

/* u != v, both nodes of g. The arrays are malloc'ed: pgr_subgraph_free. */
void pgr_subgraph_extract(const PgrGraph *g, int64_t u, int64_t v, const PgrSubgraphOptions *opt, PgrSubgraph *out);
void pgr_subgraph_free(PgrSubgraph *s);

#endif
