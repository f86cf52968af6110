/* SNLI-VE hypotheses and NLVR2 statements of the synthetic image-text world
 * (spec/albef_blip.md §3.2-3.3, §6.2-6.3) whose texts say nothing of their
 * labels, so that a model can only learn the tasks from the images.
 *
 * Every item is drawn by rejection: its form first (uniformly, before the label
 * is looked at), then a text of that form from a distribution that ignores the
 * image and the label, kept when its label on the image(s) is the one wanted
 * and drawn again otherwise (NLVR2 draws the image pair again too). Colours,
 * shapes, sizes and positions are exchangeable in the scene distribution
 * (data/synth_scene.c: uniform draws, positions a uniform permutation of a
 * layout symmetric under mirroring and transposing), and so are the two images
 * of a random pair; every text of a form therefore has the same chance of each
 * label, and the label cannot be told from the text.
 *
 * SNLI-VE (labels as data/snli_ve.h): a hypothesis names an object by colour
 * and shape ("the red circle") and states its size, its position, or its
 * relation to a second named object:
 *   entailment     every named object is in the image and the statement holds;
 *   contradiction  every named object is in the image and it does not hold;
 *   neutral        a named object is not in the image: the image neither shows
 *                  nor denies what is said of it.
 * NLVR2: a statement about the pair that only both images decide: which one
 * has more shapes, whether both or exactly one contain a shape of a colour,
 * whether both contain a kind of shape. One image alone can make a statement
 * likelier or unlikelier but never settles a true one.
 *
 * Every word used also occurs in the vocabulary corpus (data/synth_text.h),
 * so the world's vocab.txt spells each as it spells the captions' words. */
#ifndef DATA_SYNTH_CLAIMS_H
#define DATA_SYNTH_CLAIMS_H

#include <stdint.h>

#include "core/rng.h"
#include "data/synth_scene.h"
#include "data/synth_text.h"

typedef struct {
    char text[SYNTH_TEXT_MAX];
    int label;
} SynthHypothesis;

/* The hypotheses of scene `index`: n_per_label of each label, in the order
 * (contradiction, neutral, entailment) repeated; returns 3 * n_per_label. */
int synth_ve_hypotheses(const SynthScene *s, uint64_t seed, int64_t index, int n_per_label, SynthHypothesis *out);

/* One NLVR2 item among scenes[0..n): an ordered pair of two different scenes
 * (pair[0] left, pair[1] right) and a statement about it whose truth is
 * want_true. 0, or -1 with error_set when n < 2. */
int synth_nlvr_item(const SynthScene *scenes, int64_t n, Rng *r, int want_true, int64_t pair[2],
                    char out[SYNTH_TEXT_MAX]);

#endif
