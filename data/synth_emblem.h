/* Rare visual concepts of the long-tail world: an emblem in one corner of a
 * scene, a 4x4 two-colour pattern named by a made-up word of its own. Each
 * image draws its emblem independently, so a concept occurs once in the whole
 * world: a model can only tie the word to the pattern by memorising that
 * image, while the common scene grammar (data/synth_text.h) stays learnable
 * from every image. This is the long tail a fine-tuned model meets in real
 * data (a rare name or object seen in one photo), reduced to its extreme.
 *
 * The emblem lies in a corner square of a quarter of the side, which no
 * object reaches (objects sit at left/right/top/bottom/center, data/synth_scene.c),
 * and on 64-pixel images with 16-pixel patches it fills one ViT patch. */
#ifndef DATA_SYNTH_EMBLEM_H
#define DATA_SYNTH_EMBLEM_H

#include <stdint.h>

#define SYNTH_EMBLEM_NAME_MAX 16
#define SYNTH_EMBLEM_SIDE 0.25f /* fraction of the image side */

typedef struct {
    int present;
    int corner;          /* 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right */
    uint16_t bits;       /* cell (row r, column c) is foreground when bit 4r+c is set */
    uint8_t fg[3], bg[3];
    char name[SYNTH_EMBLEM_NAME_MAX]; /* three consonant-vowel syllables, e.g. "kazimo" */
} SynthEmblem;

/* The emblem of image `index` of the world with `seed`: present with
 * probability percent/100; a pure function of (seed, index) through Philox. */
void synth_emblem_sample(uint64_t seed, int64_t index, int percent, SynthEmblem *out);

/* The emblem's colour at (x, y) (fractions of the side), or NULL outside it. */
const uint8_t *synth_emblem_colour_at(const SynthEmblem *e, float x, float y);

#endif
