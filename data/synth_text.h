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

/* Appending printf-style text to a fixed buffer; a text that would overflow
 * is cut at the buffer's end. */
typedef struct {
    char *buf;
    size_t size, len;
} SynthStr;
void synth_str_put(SynthStr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "a" or "an" before the word `next`. */
const char *synth_article(const char *next);

/* Words a text may use for a size, a position (as a phrase: "on the left") or
 * a number; synonyms of one value share a row, the first is canonical. */
extern const char *const synth_size_words[SYNTH_N_SIZES][3];
extern const char *const synth_position_words[SYNTH_N_POSITIONS][3];
extern const char *const synth_number_words[6];

/* The sentences the world's WordPiece vocabulary is learned from besides the
 * captions (data/synth_image_text.h): the SNLI-VE hypotheses and NLVR2
 * statements of the world's first release. Their templates let the text
 * alone tell much of the label, so the VE and NLVR2 files now hold
 * data/synth_claims.h instead, whose words all occur here or in the captions;
 * these sentences stay only as vocabulary corpus, because a vocabulary learned
 * from other texts would renumber the tokens and so move every retrieval
 * number measured on the world.
 * synth_vocab_ve_sentences: n_per_label sentences per label of scene `index`;
 * synth_vocab_nlvr_sentence: one sentence about (left, right) whose truth is want_true. */
void synth_vocab_ve_sentences(const SynthScene *s, uint64_t seed, int64_t index, int n_per_label,
                              char (*out)[SYNTH_TEXT_MAX]);
void synth_vocab_nlvr_sentence(const SynthScene *left, const SynthScene *right, Rng *r, int want_true,
                               char out[SYNTH_TEXT_MAX]);

#endif
