/* Per-pair output distributions of an ALBEF, the black-box view the
 * membership-inference attacker sees (spec/unlearning_methods.md §6.3 port
 * specification item 1): for retrieval, p = softmax(ITM logits) ∈ R² of the
 * (image, own caption) pair [G], column 1 = "match".
 *
 * The model runs in eval mode (no dropout) with the tape off, in batches;
 * each batch's results are copied out of the activation arena before
 * autograd_step_end() drops it, so any number of pairs fits. The caller's
 * mode and gradient switch come back afterwards. */
#ifndef MODELS_PAIR_OUTPUTS_H
#define MODELS_PAIR_OUTPUTS_H

#include <stdint.h>

#include "data/retrieval_set.h"
#include "models/albef.h"

/* ITM probabilities of n pairs (text indices of s, each with its own image)
 * into probs [n, 2] row-major, softmax computed in double from the logits.
 * batch: pairs per forward pass (> 0). 0, or -1 with error_set (an image
 * that cannot be read, a pair out of range, a set prepared for another
 * image size). */
int pair_itm_probs(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch, float *probs);

#endif
