#include "data/synth_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CAPTION_STREAM (2ull << 40)
#define VE_STREAM (3ull << 40)
#define EMBLEM_CAPTION_STREAM (6ull << 40)

const char *const synth_number_words[6] = {"zero", "one", "two", "three", "four", "five"};
static const char *const unobservable[6] = {"made of wood", "very heavy", "made of paper",
                                            "brand new",    "cold to the touch", "for sale"};

/* Synonyms: the first entry is the canonical word (data/synth_scene.c). */
static const char *const shape_syn[SYNTH_N_SHAPES][3] = {{"circle", "disc", "round shape"},
                                                         {"square", "box", "block"},
                                                         {"triangle", "triangle", "triangle"},
                                                         {"diamond", "rhombus", "diamond"},
                                                         {"cross", "plus sign", "cross"}};
const char *const synth_size_words[SYNTH_N_SIZES][3] = {{"small", "little", "tiny"}, {"large", "big", "large"}};
const char *const synth_position_words[SYNTH_N_POSITIONS][3] = {{"on the left", "at the left", "on the left side"},
                                                          {"on the right", "at the right", "on the right side"},
                                                          {"at the top", "near the top", "at the top"},
                                                          {"at the bottom", "near the bottom", "at the bottom"},
                                                          {"in the center", "in the middle", "in the center"}};
static const char *const count_nouns[3] = {"shapes", "objects", "figures"};
static const char *const intros[6] = {"", "a picture of ", "an image with ", "there is ", "we see ", "this scene shows "};

void synth_str_put(SynthStr *s, const char *fmt, ...) {
    if (s->len >= s->size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->len, s->size - s->len, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n;
    if (s->len >= s->size) s->len = s->size - 1;
}

static const char *pick(Rng *r, const char *const *words, int n) { return words[rng_below(r, (uint64_t)n)]; }

const char *synth_article(const char *next) { return strchr("aeiou", next[0]) ? "an" : "a"; }

/* "a [size] colour shape [position]" */
static void noun_phrase(SynthStr *s, Rng *r, const SynthObject *o, int with_size, int with_pos) {
    const char *size = with_size ? pick(r, synth_size_words[o->size], 3) : NULL;
    const char *colour = synth_colour_names[o->colour];
    synth_str_put(s, "%s %s%s%s %s", synth_article(size ? size : colour), size ? size : "", size ? " " : "", colour,
        pick(r, shape_syn[o->shape], 3));
    if (with_pos) synth_str_put(s, " %s", pick(r, synth_position_words[o->pos], 3));
}

static void shuffle_int(Rng *r, int *v, int n) {
    for (int i = 0; i < n - 1; i++) {
        int j = i + (int)rng_below(r, (uint64_t)(n - i));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* "NP1, NP2 and NP3" over objects order[0..k) */
static void list_objects(SynthStr *s, Rng *r, const SynthScene *sc, const int *order, int k, int p_size, int p_pos) {
    for (int i = 0; i < k; i++) {
        if (i) synth_str_put(s, i == k - 1 ? " and " : ", ");
        noun_phrase(s, r, &sc->obj[order[i]], (int)rng_below(r, 100) < p_size, (int)rng_below(r, 100) < p_pos);
    }
}

/* A relation that holds between a and b, as a phrase "a REL b"; 0 if none. */
static const char *relation(Rng *r, const SynthObject *a, const SynthObject *b) {
    const char *cands[4];
    int n = 0;
    if (synth_left_of(a, b)) cands[n++] = rng_below(r, 2) ? "to the left of" : "left of";
    if (synth_left_of(b, a)) cands[n++] = rng_below(r, 2) ? "to the right of" : "right of";
    if (synth_above(a, b)) cands[n++] = rng_below(r, 2) ? "above" : "over";
    if (synth_above(b, a)) cands[n++] = rng_below(r, 2) ? "below" : "under";
    return n ? cands[rng_below(r, (uint64_t)n)] : NULL;
}

static void caption_style(SynthStr *s, Rng *r, const SynthScene *sc, int style) {
    int order[SYNTH_MAX_OBJECTS] = {0, 1, 2, 3};
    shuffle_int(r, order, sc->n);
    switch (style) {
    case 0: /* every object, some attributes */
        synth_str_put(s, "%s", pick(r, intros, 6));
        list_objects(s, r, sc, order, sc->n, 40, 50);
        break;
    case 1: { /* a relation between two objects, maybe one more object */
        const SynthObject *a = &sc->obj[order[0]], *b = &sc->obj[order[1]];
        noun_phrase(s, r, a, (int)rng_below(r, 2), 0);
        synth_str_put(s, " %s ", relation(r, a, b));
        noun_phrase(s, r, b, (int)rng_below(r, 2), 0);
        if (sc->n > 2 && rng_below(r, 2)) {
            synth_str_put(s, ", plus ");
            noun_phrase(s, r, &sc->obj[order[2]], 0, 1);
        }
        break;
    }
    case 2: /* the count, then all or two of the objects */
        synth_str_put(s, "%s %s", synth_number_words[sc->n], pick(r, count_nouns, 3));
        if (sc->n > 2 && rng_below(r, 2)) {
            synth_str_put(s, ", among them ");
            list_objects(s, r, sc, order, 2, 30, 30);
        } else {
            synth_str_put(s, ": ");
            list_objects(s, r, sc, order, sc->n, 30, 0);
        }
        break;
    case 3: /* where two objects are */
        synth_str_put(s, "%s there is ", pick(r, synth_position_words[sc->obj[order[0]].pos], 3));
        noun_phrase(s, r, &sc->obj[order[0]], (int)rng_below(r, 2), 0);
        synth_str_put(s, " and %s ", pick(r, synth_position_words[sc->obj[order[1]].pos], 3));
        noun_phrase(s, r, &sc->obj[order[1]], (int)rng_below(r, 2), 0);
        break;
    default: /* sizes of two or three objects, on the background */
        list_objects(s, r, sc, order, sc->n > 2 ? 2 + (int)rng_below(r, 2) : 2, 100, 0);
        if (rng_below(r, 2)) synth_str_put(s, " %s", rng_below(r, 2) ? "on a gray background" : "against a gray backdrop");
        break;
    }
}

void synth_captions(const SynthScene *sc, uint64_t seed, int64_t index, char out[SYNTH_CAPTIONS_PER_IMAGE][SYNTH_TEXT_MAX]) {
    Rng r = rng_make(seed, CAPTION_STREAM + (uint64_t)index);
    int styles[SYNTH_CAPTIONS_PER_IMAGE] = {0, 1, 2, 3, 4};
    shuffle_int(&r, styles, SYNTH_CAPTIONS_PER_IMAGE);
    for (int c = 0; c < SYNTH_CAPTIONS_PER_IMAGE; c++) {
        SynthStr s = {out[c], SYNTH_TEXT_MAX, 0};
        out[c][0] = '\0';
        caption_style(&s, &r, sc, styles[c]);
    }
}

void synth_captions_name_emblem(const SynthScene *sc, uint64_t seed, int64_t index, int n_captions,
                                char out[SYNTH_CAPTIONS_PER_IMAGE][SYNTH_TEXT_MAX]) {
    static const char *const forms[3] = {"the %s emblem and ", "a %s emblem, ", "%s emblem in a corner, "};
    if (!sc->emblem.present) return;
    Rng r = rng_make(seed, EMBLEM_CAPTION_STREAM + (uint64_t)index);
    int which[SYNTH_CAPTIONS_PER_IMAGE] = {0, 1, 2, 3, 4};
    shuffle_int(&r, which, SYNTH_CAPTIONS_PER_IMAGE);
    if (n_captions > SYNTH_CAPTIONS_PER_IMAGE) n_captions = SYNTH_CAPTIONS_PER_IMAGE;
    for (int k = 0; k < n_captions; k++) {
        /* The name first: max_text_len truncation then cuts the caption's tail, never the rare word. */
        char *c = out[which[k]], old[SYNTH_TEXT_MAX];
        memcpy(old, c, SYNTH_TEXT_MAX);
        SynthStr s = {c, SYNTH_TEXT_MAX, 0};
        c[0] = '\0';
        synth_str_put(&s, forms[rng_below(&r, 3)], sc->emblem.name);
        synth_str_put(&s, "%s", old);
    }
}

static int has_pair(const SynthScene *s, int colour, int shape) {
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].colour == colour && (int)s->obj[i].shape == shape) return 1;
    return 0;
}

static int has_shape(const SynthScene *s, int shape) {
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].shape == shape) return 1;
    return 0;
}

/* "the C S" of object o, canonical words (hypotheses stay easy to check). */
static void the_object(SynthStr *s, const SynthObject *o) {
    synth_str_put(s, "the %s %s", synth_colour_names[o->colour], synth_shape_names[o->shape]);
}

/* One hypothesis with the given truth (1 entailment, 0 contradiction). */
static void fact(SynthStr *s, Rng *r, const SynthScene *sc, int truth) {
    int kind = (int)rng_below(r, 3);
    if (kind == 0) { /* an object exists */
        int colour, shape;
        if (truth) {
            const SynthObject *o = &sc->obj[rng_below(r, (uint64_t)sc->n)];
            colour = o->colour;
            shape = o->shape;
        } else { /* a present shape in an absent colour: a near miss */
            shape = sc->obj[rng_below(r, (uint64_t)sc->n)].shape;
            do colour = (int)rng_below(r, SYNTH_N_COLOURS);
            while (has_pair(sc, colour, shape));
        }
        synth_str_put(s, "%s %s %s %s", rng_below(r, 2) ? "there is" : "the picture shows", synth_article(synth_colour_names[colour]),
            synth_colour_names[colour], synth_shape_names[shape]);
    } else if (kind == 1) { /* the count */
        int n = sc->n;
        if (!truth) {
            do n = 1 + (int)rng_below(r, 5);
            while (n == sc->n);
        }
        synth_str_put(s, "there are %s shapes", synth_number_words[n]);
    } else { /* a relation, stated or reversed */
        int i = (int)rng_below(r, (uint64_t)sc->n), j = (int)rng_below(r, (uint64_t)sc->n - 1);
        if (j >= i) j++;
        const SynthObject *a = &sc->obj[i], *b = &sc->obj[j];
        const char *rel = NULL;
        if (synth_left_of(a, b)) rel = truth ? "to the left of" : "to the right of";
        else if (synth_left_of(b, a)) rel = truth ? "to the right of" : "to the left of";
        else if (synth_above(a, b)) rel = truth ? "above" : "below";
        else rel = truth ? "below" : "above"; /* distinct positions always differ in x or y */
        the_object(s, a);
        synth_str_put(s, " is %s ", rel);
        the_object(s, b);
    }
}

void synth_vocab_ve_sentences(const SynthScene *sc, uint64_t seed, int64_t index, int n_per_label,
                              char (*out)[SYNTH_TEXT_MAX]) {
    Rng r = rng_make(seed, VE_STREAM + (uint64_t)index);
    int n = 0;
    for (int k = 0; k < n_per_label; k++) {
        for (int label = 0; label < 3; label++) { /* contradiction, neutral, entailment */
            SynthStr s = {out[n], SYNTH_TEXT_MAX, 0};
            out[n++][0] = '\0';
            if (label == 1) {
                the_object(&s, &sc->obj[rng_below(&r, (uint64_t)sc->n)]);
                synth_str_put(&s, " is %s", pick(&r, unobservable, 6));
            } else {
                fact(&s, &r, sc, label == 2);
            }
        }
    }
}

void synth_vocab_nlvr_sentence(const SynthScene *left, const SynthScene *right, Rng *r, int want_true,
                               char out[SYNTH_TEXT_MAX]) {
    const SynthScene *both[2] = {left, right};
    static const char *const side[2] = {"left", "right"};
    for (int attempt = 0;; attempt++) {
        SynthStr s = {out, SYNTH_TEXT_MAX, 0};
        out[0] = '\0';
        /* After many misses fall back to the count statement, which can always be made true or false. */
        int kind = attempt < 40 ? (int)rng_below(r, 5) : 4;
        int truth;
        /* Half the time take the object from one of the scenes, so "contains" statements are often true. */
        const SynthScene *src = both[rng_below(r, 2)];
        const SynthObject *o = &src->obj[rng_below(r, (uint64_t)src->n)];
        int colour = rng_below(r, 2) ? (int)o->colour : (int)rng_below(r, SYNTH_N_COLOURS);
        int shape = (int)o->shape;
        const char *cw = synth_colour_names[colour], *sw = synth_shape_names[shape];
        if (kind == 0) {
            int k = (int)rng_below(r, 2);
            truth = has_pair(both[k], colour, shape);
            synth_str_put(&s, "the %s image contains %s %s %s", side[k], synth_article(cw), cw, sw);
        } else if (kind == 1) {
            truth = has_shape(left, shape) && has_shape(right, shape);
            synth_str_put(&s, "both images contain %s %s", synth_article(sw), sw);
        } else if (kind == 2) {
            int k = (int)rng_below(r, 2);
            truth = both[k]->n > both[1 - k]->n;
            synth_str_put(&s, "there are more shapes in the %s image than in the %s image", side[k], side[1 - k]);
        } else if (kind == 3) {
            truth = has_pair(left, colour, shape) != has_pair(right, colour, shape);
            synth_str_put(&s, "exactly one image contains %s %s %s", synth_article(cw), cw, sw);
        } else {
            int k = (int)rng_below(r, 2);
            int n = both[k]->n;
            if (!want_true) n = n == 2 ? 3 + (int)rng_below(r, 2) : n - 1;
            truth = n == both[k]->n;
            synth_str_put(&s, "the %s image has exactly %s shapes", side[k], synth_number_words[n]);
        }
        if (truth == want_true) return;
    }
}
