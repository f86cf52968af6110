/* Training and scoring the PGR graph-text model (spec/pgr_graph_text.md §4.3):
 * one epoch of cross-entropy steps over a split, and the split's per-sample
 * probabilities of "True" with accuracy, precision, recall and F1 of the
 * positive class (MultiDelete reports accuracy, GTNN F1). */
#ifndef MODELS_PGR_TRAIN_H
#define MODELS_PGR_TRAIN_H

#include "core/rng.h"
#include "data/pgr_corpus.h"
#include "models/pgr_model.h"
#include "nn/optim.h"

typedef struct {
    int64_t n, n_pos, tp, fp, tn, fn;
    double accuracy, precision, recall, f1;
    float *p_true; /* [n] softmax probability of class 1 (malloc'ed; pgr_scores_free) */
} PgrScores;

/* The model in eval mode (no dropout, no tape) over every sample of s. */
void pgr_score(const PgrModel *m, const PgrCorpus *c, const PgrSamples *s, int batch, Device device, PgrScores *out);
void pgr_scores_free(PgrScores *s);

/* One pass over s in an order drawn from rng, batches of `batch` (the last,
 * shorter one kept); AdamW at lr; dropout from `dropout` (may be NULL).
 * Returns the mean loss. */
double pgr_train_epoch(const PgrModel *m, AdamW *opt, const PgrCorpus *c, const PgrSamples *s, int batch, float lr,
                       DropoutState *dropout, Rng *rng, Device device);

#endif
