/* Scenes of the synthetic image-text world: 2-4 flat shapes on a gray
 * background, each with a shape, a colour, a size and one of five positions.
 * A scene is a pure function of (seed, image index) through Philox, so any
 * program (or test) can regenerate scene i without reading the world back. */
#ifndef DATA_SYNTH_SCENE_H
#define DATA_SYNTH_SCENE_H

#include <stdint.h>

#include "data/synth_emblem.h"

typedef enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_DIAMOND, SHAPE_CROSS, SYNTH_N_SHAPES } SynthShape;
typedef enum {
    COLOUR_RED, COLOUR_GREEN, COLOUR_BLUE, COLOUR_YELLOW,
    COLOUR_PURPLE, COLOUR_ORANGE, COLOUR_WHITE, COLOUR_BLACK, SYNTH_N_COLOURS
} SynthColour;
typedef enum { SIZE_SMALL, SIZE_LARGE, SYNTH_N_SIZES } SynthSize;
typedef enum { POS_LEFT, POS_RIGHT, POS_TOP, POS_BOTTOM, POS_CENTER, SYNTH_N_POSITIONS } SynthPosition;

#define SYNTH_MAX_OBJECTS 4

typedef struct {
    SynthShape shape;
    SynthColour colour;
    SynthSize size;
    SynthPosition pos;
    float cx, cy, r;    /* centre and radius as fractions of the image side */
    uint8_t rgb[3];     /* the drawn colour: the palette entry with a small jitter */
} SynthObject;

typedef struct {
    int n;              /* 2..4 */
    SynthObject obj[SYNTH_MAX_OBJECTS];
    uint8_t background[3];
    SynthEmblem emblem; /* the long-tail world's rare concept; absent (zeroed) in a plain scene */
} SynthScene;

/* Scene `index` of the world with `seed`, without an emblem (synth_emblem_sample
 * adds one). No two objects share (colour, shape), so "the red circle" always
 * names one object; positions are distinct. */
void synth_scene_sample(uint64_t seed, int64_t index, SynthScene *out);

/* Rasterises onto an RGB buffer of size x size x 3 with 4x4 supersampling per
 * pixel (coverage-weighted blend with the background: simple anti-aliasing). */
void synth_scene_render(const SynthScene *s, int size, uint8_t *rgb);

/* Whether a point (fractions of the side) lies inside object o. */
int synth_object_contains(const SynthObject *o, float x, float y);

/* Relations from the nominal positions (left < top = center = bottom < right in
 * x; top < left = center = right < bottom in y), so they hold despite jitter. */
int synth_left_of(const SynthObject *a, const SynthObject *b);
int synth_above(const SynthObject *a, const SynthObject *b);

extern const char *const synth_shape_names[SYNTH_N_SHAPES];   /* canonical singular nouns */
extern const char *const synth_colour_names[SYNTH_N_COLOURS];
extern const char *const synth_size_names[SYNTH_N_SIZES];
extern const char *const synth_position_names[SYNTH_N_POSITIONS];
extern const uint8_t synth_palette[SYNTH_N_COLOURS][3];
/* Index of the palette colour nearest to rgb (squared distance). */
int synth_nearest_colour(const uint8_t rgb[3]);

#endif
