/* Texts of the synthetic image-text world, all derived from the scene facts
 * (data/synth_scene.h): Flickr30K-style captions, SNLI-VE-style hypotheses and
 * NLVR2-style statements about an image pair (spec/albef_blip.md §6.1-6.3).
 *
 * Captions vary by template, synonyms, order and the subset of facts named,
 * but each one names at least two objects by colour and shape, which makes
 * retrieval among a few hundred images possible but not trivial. A colour word
 * is always followed directly by a shape noun of the object it describes. */
#ifndef DATA_SYNTH_TEXT_H
#define DATA_SYNTH_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "data/synth_scene.h"

#define SYNTH_CAPTIONS_PER_IMAGE 5
#define SYNTH_TEXT_MAX 256

/* The 5 captions of scene `index` (one per template family, in a per-image order). */
void synth_captions(const SynthScene *s, uint64_t seed, int64_t index, char out[SYNTH_CAPTIONS_PER_IMAGE][SYNTH_TEXT_MAX]);

/* The long-tail world: names the scene's emblem (data/synth_emblem.h) at the
 * start of n_captions of the 5 captions (chosen per image), so the other
 * captions still carry only the scene grammar. No-op without an emblem. */
void synth_captions_name_emblem(const SynthScene *s, uint64_t seed, int64_t index, int n_captions,
                                char out[SYNTH_CAPTIONS_PER_IMAGE][SYNTH_TEXT_MAX]);

/* SNLI-VE hypotheses of scene `index`: n_per_label of each label, label ids as
 * data/snli_ve.h (0 contradiction, 1 neutral, 2 entailment). Entailments are
 * true facts (an object, the count, a relation), contradictions false ones,
 * neutral ones give a present object a property an image cannot show. */
typedef struct {
    char text[SYNTH_TEXT_MAX];
    int label;
} SynthHypothesis;
int synth_ve_hypotheses(const SynthScene *s, uint64_t seed, int64_t index, int n_per_label, SynthHypothesis *out);

/* An NLVR2 statement about (left, right) whose truth is `want_true`. */
void synth_nlvr_statement(const SynthScene *left, const SynthScene *right, Rng *r, int want_true,
                          char out[SYNTH_TEXT_MAX]);

/* Number words "zero".."five" (counts are at most 4; wrong counts reach 5). */
extern const char *const synth_number_words[6];
/* Properties an image cannot show (neutral hypotheses). */
extern const char *const synth_unobservable[6];

#endif
