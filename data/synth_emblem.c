#include "data/synth_emblem.h"

#include <string.h>

#include "core/rng.h"
#include "data/synth_scene.h"

#define EMBLEM_STREAM (5ull << 40)

static const char consonants[] = "bdfgklmnprstvz";
static const char vowels[] = "aeiou";

void synth_emblem_sample(uint64_t seed, int64_t index, int percent, SynthEmblem *e) {
    memset(e, 0, sizeof *e);
    Rng r = rng_make(seed, EMBLEM_STREAM + (uint64_t)index);
    if ((int)rng_below(&r, 100) >= percent) return;
    e->present = 1;
    e->corner = (int)rng_below(&r, 4);
    /* 5..11 foreground cells: neither colour fills the square, so the pattern is what tells concepts apart */
    int set;
    do {
        e->bits = (uint16_t)rng_below(&r, 1u << 16);
        set = __builtin_popcount(e->bits);
    } while (set < 5 || set > 11);
    int f = (int)rng_below(&r, SYNTH_N_COLOURS), b = (int)rng_below(&r, SYNTH_N_COLOURS - 1);
    if (b >= f) b++;
    memcpy(e->fg, synth_palette[f], 3);
    memcpy(e->bg, synth_palette[b], 3);
    int k = 0;
    for (int s = 0; s < 3; s++) {
        e->name[k++] = consonants[rng_below(&r, sizeof consonants - 1)];
        e->name[k++] = vowels[rng_below(&r, sizeof vowels - 1)];
    }
    e->name[k] = '\0';
}

const uint8_t *synth_emblem_colour_at(const SynthEmblem *e, float x, float y) {
    if (!e->present) return NULL;
    float x0 = (e->corner & 1) ? 1.0f - SYNTH_EMBLEM_SIDE : 0.0f;
    float y0 = (e->corner & 2) ? 1.0f - SYNTH_EMBLEM_SIDE : 0.0f;
    float u = (x - x0) / SYNTH_EMBLEM_SIDE, v = (y - y0) / SYNTH_EMBLEM_SIDE;
    if (u < 0.0f || u >= 1.0f || v < 0.0f || v >= 1.0f) return NULL;
    int c = (int)(u * 4.0f), row = (int)(v * 4.0f);
    return (e->bits >> (4 * row + c)) & 1 ? e->fg : e->bg;
}
