/* The synthetic graph-text world: a stand-in for PGR written in the PGR
 * formats (spec/pgr_graph_text.md §4.4), so one loader (data/pgr.h) serves both:
 *   <out>/train.tsv   11 columns, as the 2018 corpus
 *   <out>/test.tsv    12 columns (CONFIRMATION), ~85% of sentences from train
 *   <out>/kg_edges.tsv  NCBIGene:<id> <TAB> HP:<id> <TAB> gene_phenotype
 *   <out>/vocab.txt   WordPiece vocabulary learned from the training sentences
 *                     and the two mention markers (data/pgr_corpus.h), as the
 *                     shipped corpus has one: --task pgr reads it from --data
 * Genes and phenotypes belong to latent modules; the label KB links pairs
 * mostly within a module (plus a "Neoplasm" hub, HP:0002664); the graph KB adds
 * `kb_drift` extra edges; a row's label is its pair's KB membership flipped
 * with probability label_noise, cached per pair so it stays a function of the
 * pair as in PGR (§1.4). Sentences come from relation / co-mention / neutral
 * templates (text_signal) with exact character offsets, some with &lt; escapes.
 * Node features and sentence embeddings (§4.4 step 8) are not written.
 * All randomness is Philox (core/rng.h), not the splitmix/xoshiro the spec
 * suggests: the project has one RNG. */
#ifndef DATA_SYNTH_PGR_H
#define DATA_SYNTH_PGR_H

#include <stdint.h>

typedef struct {
    uint64_t seed;
    int n_genes, n_phen, n_modules;
    int n_rows_train, n_rows_test;
    double pos_rate;       /* target share of rows whose pair is in the label KB */
    double hub_share;      /* share of phenotype slots filled by the hub */
    double kb_density_in, kb_density_out;
    double kb_drift;       /* extra graph edges, as a fraction of the label KB */
    double label_noise;
    double text_signal;    /* probability that a sentence's connective reveals the label */
    int vocab_size;        /* WordPiece tokens of vocab.txt */
} SynthPgrOptions;

/* "paper": about the size of the 2018 release (§4.4). "tiny": for unit tests. */
SynthPgrOptions synth_pgr_defaults(void);
SynthPgrOptions synth_pgr_tiny(void);

int synth_pgr_write(const SynthPgrOptions *opt, const char *out_dir);

#endif
