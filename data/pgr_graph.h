/* The gene-phenotype graph of the PGR task (spec/pgr_graph_text.md §2.3,
 * §4.2 steps 2-3), held as an undirected adjacency with sorted neighbour lists.
 *
 * The paper's graph (HPO annotations joined with OMIM, §2.3) is not available
 * offline, so by default the graph comes from the corpus itself: a node for
 * every NCBI gene id and HPO id of the rows given, an edge for every pair
 * co-mentioned in a row's sentence. Every row is a co-mention, so the edges
 * use no label. A user with HPO's annotation file can read its edges instead
 * (pgr_graph_read_annotations); the corpus nodes are kept either way so every
 * sample has its two nodes. Node ids are canonical: "NCBIGene:<id>", "HP:<id>". */
#ifndef DATA_PGR_GRAPH_H
#define DATA_PGR_GRAPH_H

#include <stdint.h>

#include "data/deletion_keys.h"
#include "data/pgr.h"

typedef struct {
    KeyIndex ids;         /* node id -> index, in order of first appearance */
    char **names;         /* per node: a name the edge source gave it ("" when none); owned */
    int64_t n_nodes;
    int64_t *row_ptr;     /* n_nodes + 1 */
    int32_t *col_idx;     /* sorted neighbours, no self loops, no repeats */
    int64_t n_edges;      /* undirected edges (col_idx holds each twice) */
} PgrGraph;

/* Edges of one source before they become the adjacency (node indices). */
typedef struct {
    int32_t *src, *dst;
    int64_t n, cap;
} PgrEdgeBuffer;

/* Nodes of every row of the tables (gene, then phenotype, row by row). */
void pgr_graph_init(PgrGraph *g);
void pgr_graph_add_row_nodes(PgrGraph *g, const PgrTable *t);
/* The co-mention edges of the rows: one per row, repeats merged by finalize. */
void pgr_graph_add_row_edges(PgrGraph *g, const PgrTable *t, PgrEdgeBuffer *edges);
/* Edges of a file: HPO's genes_to_phenotype.txt in either layout (2018:
 * "#Format: entrez-gene-id<TAB>entrez-gene-symbol<TAB>HPO-Term-Name<TAB>HPO-Term-ID";
 * current: header "ncbi_gene_id<TAB>gene_symbol<TAB>hpo_id<TAB>hpo_name..."),
 * or the typed edge list of pgr_read_edges (`src<TAB>dst[<TAB>type]`). Nodes
 * the file adds take its gene symbol or HPO name. -1 with error_set naming
 * the file, the line and the reason. */
int pgr_graph_read_annotations(PgrGraph *g, const char *path, PgrEdgeBuffer *edges);
/* Builds the sorted, deduplicated adjacency from the buffered edges (which it frees). */
void pgr_graph_finalize(PgrGraph *g, PgrEdgeBuffer *edges);
void pgr_graph_free(PgrGraph *g);

/* Node index of a canonical id, -1 when absent. */
int64_t pgr_graph_find(const PgrGraph *g, const char *id);
/* Node index of a row's gene / phenotype (the row's tables were added). */
int64_t pgr_graph_gene_node(const PgrGraph *g, const PgrRow *r);
int64_t pgr_graph_phen_node(const PgrGraph *g, const PgrRow *r);
int pgr_graph_has_edge(const PgrGraph *g, int64_t u, int64_t v);
int64_t pgr_graph_degree(const PgrGraph *g, int64_t u);

#endif
