/* PGR graph-text data (spec/pgr_graph_text.md):
 * - the corpus TSV of the 10_12_2018 release (§1.2): a header line, then 11
 *   columns (train) or 12 (test adds CONFIRMATION); one row = one gene mention x
 *   phenotype mention in one sentence, labelled True/False;
 * - the knowledge-graph edge list (§4.1 item 2): `src<TAB>dst[<TAB>type]` with
 *   typed ids such as NCBIGene:4830 and HP:0002664.
 * Loader rules from §4.1 item 1: labels case-insensitive, column 12 optional,
 * &lt; &gt; &amp; unescaped with the offsets (which index the text as written)
 * carried over, offset/text mismatches repaired by a substring search and
 * counted, HPO ids accepted as HP_ or HP: and stored as HP:. */
#ifndef DATA_PGR_H
#define DATA_PGR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *pmid;                 /* FILE_ID */
    char *sentence;             /* unescaped */
    char *gene, *phenotype;     /* mention surface strings, unescaped */
    char *gene_id;              /* NCBI Gene id as written, e.g. "4830" */
    char *hpo_id;               /* canonical "HP:0002664" */
    int gene_start, gene_end;   /* into `sentence`, end exclusive; -1 when unresolved */
    int phen_start, phen_end;
    int label;                  /* 1 True (known association), 0 False */
    char confirmation;          /* test.tsv column 12: 'C', 'I', 'U'; 0 when absent */
} PgrRow;

typedef struct {
    PgrRow *rows;
    int64_t n;
    int64_t n_offsets_repaired;   /* mentions found by substring search instead of their offsets */
    int64_t n_offsets_unresolved; /* mentions not found at all (offsets set to -1) */
    int64_t first_bad_row;        /* 1-based line of the first repaired/unresolved mention, 0 if none */
} PgrTable;

/* Errors (-1, error_set "<path>: line L: ..."): empty file, no data rows, a row
 * with a column count other than 11/12, an empty id or sentence, a non-integer
 * offset, an unknown label, a malformed HPO id or gene id. */
int pgr_read_tsv(const char *path, PgrTable *out);
void pgr_table_free(PgrTable *t);

typedef struct {
    char **src, **dst, **type; /* canonical ids; type "" when the column is absent */
    int64_t n;
    int64_t n_duplicates;      /* repeated undirected edges, dropped */
} PgrEdgeList;

/* Blank lines and lines starting with '#' are skipped. Errors: empty file, no
 * edges, fewer than 2 or more than 3 columns, an id without a type prefix,
 * a self-loop. */
int pgr_read_edges(const char *path, PgrEdgeList *out);
void pgr_edges_free(PgrEdgeList *e);

/* "HP_0002664" or "HP:0002664" -> "HP:0002664" in out (size >= 16); -1 if malformed. */
int pgr_hpo_canonical(const char *id, char *out, size_t size);
/* The graph node of a PGR gene: "NCBIGene:<gene_id>" (malloc'ed). */
char *pgr_gene_node(const char *gene_id);

#endif
