#include "data/synth_scene.h"

#include <math.h>
#include <string.h>

#include "core/rng.h"

const char *const synth_shape_names[SYNTH_N_SHAPES] = {"circle", "square", "triangle", "diamond", "cross"};
const char *const synth_colour_names[SYNTH_N_COLOURS] = {"red",    "green",  "blue",  "yellow",
                                                         "purple", "orange", "white", "black"};
const char *const synth_size_names[SYNTH_N_SIZES] = {"small", "large"};
const char *const synth_position_names[SYNTH_N_POSITIONS] = {"left", "right", "top", "bottom", "center"};
/* Far apart from each other and from the gray background (~110-150). */
const uint8_t synth_palette[SYNTH_N_COLOURS][3] = {{220, 40, 40},  {40, 175, 60},  {40, 80, 225},  {240, 215, 40},
                                                   {150, 55, 190}, {245, 140, 25}, {250, 250, 250}, {15, 15, 15}};

/* Nominal centres; radii leave a gap between neighbours even with jitter:
 * neighbours are 0.3 apart, two large shapes with jitter need 2*0.12+2*0.02. */
static const float pos_xy[SYNTH_N_POSITIONS][2] = {{0.2f, 0.5f}, {0.8f, 0.5f}, {0.5f, 0.2f}, {0.5f, 0.8f}, {0.5f, 0.5f}};
static const int pos_xrank[SYNTH_N_POSITIONS] = {0, 2, 1, 1, 1};
static const int pos_yrank[SYNTH_N_POSITIONS] = {1, 1, 0, 2, 1};
static const float size_r[SYNTH_N_SIZES] = {0.075f, 0.12f};
#define JITTER 0.02f
#define SCENE_STREAM (1ull << 40)

int synth_left_of(const SynthObject *a, const SynthObject *b) { return pos_xrank[a->pos] < pos_xrank[b->pos]; }
int synth_above(const SynthObject *a, const SynthObject *b) { return pos_yrank[a->pos] < pos_yrank[b->pos]; }

int synth_nearest_colour(const uint8_t rgb[3]) {
    int best = 0;
    long best_d = -1;
    for (int c = 0; c < SYNTH_N_COLOURS; c++) {
        long d = 0;
        for (int k = 0; k < 3; k++) {
            long e = (long)rgb[k] - synth_palette[c][k];
            d += e * e;
        }
        if (best_d < 0 || d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
}

static uint8_t clamp_u8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

void synth_scene_sample(uint64_t seed, int64_t index, SynthScene *s) {
    memset(s, 0, sizeof *s);
    Rng r = rng_make(seed, SCENE_STREAM + (uint64_t)index);
    s->n = 2 + (int)rng_below(&r, 3);
    int gray = 110 + (int)rng_below(&r, 41);
    for (int k = 0; k < 3; k++) s->background[k] = (uint8_t)gray;
    int pos_perm[SYNTH_N_POSITIONS] = {0, 1, 2, 3, 4};
    for (int i = 0; i < SYNTH_N_POSITIONS - 1; i++) {
        int j = i + (int)rng_below(&r, (uint64_t)(SYNTH_N_POSITIONS - i));
        int t = pos_perm[i];
        pos_perm[i] = pos_perm[j];
        pos_perm[j] = t;
    }
    for (int i = 0; i < s->n; i++) {
        SynthObject *o = &s->obj[i];
        for (;;) { /* (colour, shape) unique within the scene */
            o->shape = (SynthShape)rng_below(&r, SYNTH_N_SHAPES);
            o->colour = (SynthColour)rng_below(&r, SYNTH_N_COLOURS);
            int clash = 0;
            for (int j = 0; j < i; j++) clash |= s->obj[j].shape == o->shape && s->obj[j].colour == o->colour;
            if (!clash) break;
        }
        o->size = (SynthSize)rng_below(&r, SYNTH_N_SIZES);
        o->pos = (SynthPosition)pos_perm[i];
        o->cx = pos_xy[o->pos][0] + JITTER * (2.0f * rng_uniform(&r) - 1.0f);
        o->cy = pos_xy[o->pos][1] + JITTER * (2.0f * rng_uniform(&r) - 1.0f);
        o->r = size_r[o->size] * (0.95f + 0.1f * rng_uniform(&r));
        for (int k = 0; k < 3; k++) o->rgb[k] = clamp_u8(synth_palette[o->colour][k] + (int)rng_below(&r, 21) - 10);
    }
}

int synth_object_contains(const SynthObject *o, float x, float y) {
    float dx = x - o->cx, dy = y - o->cy, r = o->r;
    switch (o->shape) {
    case SHAPE_CIRCLE: return dx * dx + dy * dy <= r * r;
    case SHAPE_SQUARE: return fabsf(dx) <= 0.9f * r && fabsf(dy) <= 0.9f * r;
    case SHAPE_TRIANGLE: /* apex up at -r, base at +0.8r, half-width r at the base */
        return dy >= -r && dy <= 0.8f * r && fabsf(dx) <= (dy + r) / 1.8f;
    case SHAPE_DIAMOND: return fabsf(dx) + fabsf(dy) <= r;
    case SHAPE_CROSS: return (fabsf(dx) <= r / 3 && fabsf(dy) <= r) || (fabsf(dy) <= r / 3 && fabsf(dx) <= r);
    default: return 0;
    }
}

void synth_scene_render(const SynthScene *s, int size, uint8_t *rgb) {
    enum { SS = 4 };
    for (int py = 0; py < size; py++) {
        for (int px = 0; px < size; px++) {
            float acc[3] = {0, 0, 0};
            for (int sy = 0; sy < SS; sy++) {
                for (int sx = 0; sx < SS; sx++) {
                    float x = (px + (sx + 0.5f) / SS) / size, y = (py + (sy + 0.5f) / SS) / size;
                    const uint8_t *c = s->background;
                    for (int i = 0; i < s->n; i++) /* objects never overlap; last one wins anyway */
                        if (synth_object_contains(&s->obj[i], x, y)) c = s->obj[i].rgb;
                    const uint8_t *e = synth_emblem_colour_at(&s->emblem, x, y); /* in a corner no object reaches */
                    if (e) c = e;
                    for (int k = 0; k < 3; k++) acc[k] += c[k];
                }
            }
            for (int k = 0; k < 3; k++) rgb[((size_t)py * size + px) * 3 + k] = (uint8_t)lrintf(acc[k] / (SS * SS));
        }
    }
}
