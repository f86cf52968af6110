/* The PGR task's data: the corpus files, the graph, the samples and their
 * splits (spec/pgr_graph_text.md §1, §4.2). The default directory is the
 * corpus shipped with the project, data/pgr_corpus/ (README there):
 *   train.tsv        the 2018 training release: D (less the validation split)
 *   test.tsv         the 2018 curated test rows: Dt
 *   train_2019.tsv   the 2019 release: graph nodes and edges only (optional)
 *   genes_links.tsv, hp_links.tsv   node names (name <TAB> NCBI id / HPO URL; optional:
 *                    a node without one is named by its first mention)
 *   vocab.txt        a WordPiece vocabulary learned from the corpus
 * The synthetic world of bin/mkdata (data/synth_pgr.h) loads too, with its
 * kg_edges.tsv as graph_file and a vocabulary added.
 *
 * Choices where the spec leaves the protocol open (§1.6, §5):
 * - a sample is one row (the paper's 4.0K pairs are the 4,083 rows), its label
 *   the RELATION column; test rows keep their silver label (the curators' C/I
 *   verdict is not applied, §1.4 leaves it undocumented);
 * - the validation split is val_percent of train.tsv's distinct sentences, drawn
 *   with split_seed, so rows that share a sentence stay on one side;
 * - the test split is, by default, the test.tsv rows whose (gene, phenotype)
 *   pair no training row of D has: 159 of test.tsv's 219 pairs occur in
 *   train.tsv (§1.5) and a label is a function of its pair (§1.4), so on the
 *   other rows Dt measures recall of a training label, and "unseen" test rows
 *   would not be unseen (§4.2 step 4: test.tsv is no clean test set);
 *   test_all_rows keeps every row, as the paper's "test" would;
 * - a row's deletion key (the unit of a deletion list, spec/unlearning_methods.md
 *   §1.1: the association of one pair in one sentence) is
 *   "PMID/gene id/HPO id/gene start/phenotype start", e.g.
 *   "25111118/3158/HP:0002751/228/401"; identical rows (train.tsv repeats 20)
 *   share their key and are deleted together;
 * - the text is the sentence with both mentions marked, "@ gene @" and
 *   "$ phenotype $" (typed punctuation markers): rows that share a sentence
 *   (§1.5: up to 48) would otherwise be the same text;
 * - graph nodes and co-mention edges come from all three TSVs (every row is
 *   a co-mention, no label is read), or the annotation file graph_file. */
#ifndef DATA_PGR_CORPUS_H
#define DATA_PGR_CORPUS_H

#include <stdint.h>

#include "data/pgr.h"
#include "data/pgr_graph.h"
#include "data/pgr_subgraph.h"
#include "data/tokenizer.h"

typedef struct {
    const char *dir;         /* corpus directory */
    const char *graph_file;  /* NULL: the co-mention graph; else pgr_graph_read_annotations */
    const char *vocab_file;  /* NULL: <dir>/vocab.txt */
    int max_len;             /* sentence tokens incl. [CLS]/[SEP] */
    int name_len;            /* word pieces kept of a node's name text */
    int val_percent;         /* of train.tsv sentences held out for model selection */
    int test_all_rows;       /* 1: every test.tsv row; 0: only those whose pair no row of D has */
    uint64_t split_seed;
    PgrSubgraphOptions sub;
} PgrCorpusOptions;

/* One split's samples: parallel arrays over rows. */
typedef struct {
    int64_t n;
    const PgrRow **row;
    int32_t *u, *v;          /* graph nodes of gene and phenotype */
    int32_t *label;          /* 1 True, 0 False */
    char **key;              /* deletion key of each row (pgr_row_key) */
    int32_t *ids, *mask;     /* [n, max_len] tokens of the marked sentence */
    PgrSubgraph *graph;      /* per sample */
} PgrSamples;

enum { PGR_SPLIT_TRAIN, PGR_SPLIT_VAL, PGR_SPLIT_TEST, PGR_N_SPLITS };

typedef struct {
    PgrCorpusOptions opt;
    PgrTable train, test, extra;
    PgrGraph graph;
    Tokenizer *tok;
    int32_t *node_tokens;        /* [n_nodes, name_len] word pieces of each node's name text */
    int32_t *node_token_count;   /* [n_nodes], >= 1 */
    int64_t n_nodes_named;       /* nodes whose name came from a lexicon or the graph file */
    int64_t n_test_seen_pairs;   /* test.tsv rows whose pair a row of D has (left out unless test_all_rows) */
    PgrSamples split[PGR_N_SPLITS];
} PgrCorpus;

PgrCorpusOptions pgr_corpus_defaults(void);
/* Reads everything and builds the samples. -1 with error_set naming the file. */
int pgr_corpus_load(PgrCorpus *c, const PgrCorpusOptions *opt);
void pgr_corpus_free(PgrCorpus *c);

/* Continues the FNV-1a hash *h over what the training samples are made of:
 * the bytes of every file read (the TSVs, test.tsv too since its rows add
 * graph nodes and edges; the lexicons, the vocabulary, the graph file) and the
 * options, all but test_all_rows, which only picks the rows Dt scores.
 * 0, or -1 with error_set naming an unreadable file. */
int pgr_corpus_fingerprint(const PgrCorpus *c, uint64_t *h);

/* The deletion key of a row (malloc'ed; format above). */
char *pgr_row_key(const PgrRow *r);

/* The marked sentence of a row (malloc'ed): "@ gene @" and "$ phenotype $"
 * inserted at the offsets; a mention with unresolved offsets is left unmarked. */
char *pgr_mark_mentions(const PgrRow *r);

#endif
