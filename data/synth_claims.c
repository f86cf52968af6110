#include "data/synth_claims.h"

#include "core/error.h"
#include "data/snli_ve.h"

#define VE_CLAIM_STREAM (7ull << 40)

enum { VE_SIZE, VE_POSITION, VE_RELATION, VE_FORMS };
enum { REL_LEFT_OF, REL_RIGHT_OF, REL_ABOVE, REL_BELOW, N_RELATIONS };
enum { NLVR_MORE_SHAPES, NLVR_ONE_HAS_COLOUR, NLVR_BOTH_HAVE_COLOUR, NLVR_BOTH_HAVE_SHAPE, NLVR_FORMS };

static const char *const relation_words[N_RELATIONS][2] = {
    {"to the left of", "left of"}, {"to the right of", "right of"}, {"above", "over"}, {"below", "under"}};
static const char *const side_words[2] = {"left", "right"};

/* A VE hypothesis before it is written: objects (colour[0], shape[0]) and, for
 * a relation, (colour[1], shape[1]); value is a size, a position or a relation. */
typedef struct {
    int form, colour[2], shape[2], value;
} VeClaim;

static const SynthObject *scene_find(const SynthScene *s, int colour, int shape) {
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].colour == colour && (int)s->obj[i].shape == shape) return &s->obj[i];
    return NULL;
}

static int relation_holds(const SynthObject *a, const SynthObject *b, int rel) {
    switch (rel) {
    case REL_LEFT_OF: return synth_left_of(a, b);
    case REL_RIGHT_OF: return synth_left_of(b, a);
    case REL_ABOVE: return synth_above(a, b);
    default: return synth_above(b, a);
    }
}

static void ve_claim_draw(Rng *r, int form, VeClaim *c) {
    *c = (VeClaim){.form = form};
    c->colour[0] = (int)rng_below(r, SYNTH_N_COLOURS);
    c->shape[0] = (int)rng_below(r, SYNTH_N_SHAPES);
    if (form == VE_RELATION) {
        do {
            c->colour[1] = (int)rng_below(r, SYNTH_N_COLOURS);
            c->shape[1] = (int)rng_below(r, SYNTH_N_SHAPES);
        } while (c->colour[1] == c->colour[0] && c->shape[1] == c->shape[0]);
    }
    c->value = (int)rng_below(r, form == VE_SIZE ? SYNTH_N_SIZES : form == VE_POSITION ? SYNTH_N_POSITIONS : N_RELATIONS);
}

static int ve_claim_label(const SynthScene *s, const VeClaim *c) {
    const SynthObject *a = scene_find(s, c->colour[0], c->shape[0]);
    const SynthObject *b = c->form == VE_RELATION ? scene_find(s, c->colour[1], c->shape[1]) : a;
    if (!a || !b) return SNLI_VE_NEUTRAL;
    int holds = c->form == VE_SIZE       ? (int)a->size == c->value
                : c->form == VE_POSITION ? (int)a->pos == c->value
                                         : relation_holds(a, b, c->value);
    return holds ? SNLI_VE_ENTAILMENT : SNLI_VE_CONTRADICTION;
}

static void ve_claim_write(Rng *r, const VeClaim *c, char out[SYNTH_TEXT_MAX]) {
    SynthStr s = {out, SYNTH_TEXT_MAX, 0};
    out[0] = '\0';
    synth_str_put(&s, "the %s %s is ", synth_colour_names[c->colour[0]], synth_shape_names[c->shape[0]]);
    if (c->form == VE_SIZE) synth_str_put(&s, "%s", synth_size_words[c->value][rng_below(r, 3)]);
    else if (c->form == VE_POSITION) synth_str_put(&s, "%s", synth_position_words[c->value][rng_below(r, 3)]);
    else
        synth_str_put(&s, "%s the %s %s", relation_words[c->value][rng_below(r, 2)], synth_colour_names[c->colour[1]],
                      synth_shape_names[c->shape[1]]);
}

int synth_ve_hypotheses(const SynthScene *s, uint64_t seed, int64_t index, int n_per_label, SynthHypothesis *out) {
    Rng r = rng_make(seed, VE_CLAIM_STREAM + (uint64_t)index);
    int n = 0;
    for (int k = 0; k < n_per_label; k++) {
        for (int label = 0; label < 3; label++) {
            VeClaim c;
            int form = (int)rng_below(&r, VE_FORMS);
            /* Every form has texts of each label on every scene: a present object has a size and a
             * position, an absent pair of 40 always exists, and two distinct positions differ in x or y. */
            long tries = 0;
            do {
                ve_claim_draw(&r, form, &c);
                CHECK(++tries < 100000000L, "VE hypothesis: no %s text for scene %lld", snli_ve_label_name(label),
                      (long long)index);
            } while (ve_claim_label(s, &c) != label);
            out[n].label = label;
            ve_claim_write(&r, &c, out[n++].text);
        }
    }
    return n;
}

static int has_colour(const SynthScene *s, int colour) {
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].colour == colour) return 1;
    return 0;
}

static int has_shape(const SynthScene *s, int shape) {
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].shape == shape) return 1;
    return 0;
}

/* Truth of form `form` with parameter v (a side, a colour or a shape) on (left, right). */
static int nlvr_truth(int form, int v, const SynthScene *l, const SynthScene *r) {
    switch (form) {
    case NLVR_MORE_SHAPES: return v == 0 ? l->n > r->n : r->n > l->n;
    case NLVR_ONE_HAS_COLOUR: return has_colour(l, v) != has_colour(r, v);
    case NLVR_BOTH_HAVE_COLOUR: return has_colour(l, v) && has_colour(r, v);
    default: return has_shape(l, v) && has_shape(r, v);
    }
}

static void nlvr_write(int form, int v, char out[SYNTH_TEXT_MAX]) {
    SynthStr s = {out, SYNTH_TEXT_MAX, 0};
    out[0] = '\0';
    if (form == NLVR_MORE_SHAPES) {
        synth_str_put(&s, "there are more shapes in the %s image than in the %s image", side_words[v], side_words[1 - v]);
    } else if (form == NLVR_BOTH_HAVE_SHAPE) {
        synth_str_put(&s, "both images contain %s %s", synth_article(synth_shape_names[v]), synth_shape_names[v]);
    } else {
        const char *colour = synth_colour_names[v];
        synth_str_put(&s, "%s %s %s shape", form == NLVR_ONE_HAS_COLOUR ? "exactly one image contains" : "both images contain",
                      synth_article(colour), colour);
    }
}

int synth_nlvr_item(const SynthScene *scenes, int64_t n, Rng *r, int want_true, int64_t pair[2],
                    char out[SYNTH_TEXT_MAX]) {
    enum { TRIES_PER_FORM = 20000 };
    static const int n_values[NLVR_FORMS] = {2, SYNTH_N_COLOURS, SYNTH_N_COLOURS, SYNTH_N_SHAPES};
    if (n < 2) return error_set("NLVR2 statement: %lld images, a pair needs 2", (long long)n);
    /* Any two different scenes have a true statement (both contain a colour, or exactly
     * one does) and a false one (more shapes on a side that has not). A form is left for
     * the next only when TRIES_PER_FORM draws miss, which takes a split of a few images
     * that cannot give it the wanted truth; in larger splits a draw succeeds with
     * probability 0.1 or more. */
    int form = (int)rng_below(r, NLVR_FORMS);
    for (int f = 0; f < NLVR_FORMS; f++, form = (form + 1) % NLVR_FORMS) {
        for (int t = 0; t < TRIES_PER_FORM; t++) {
            int64_t a = (int64_t)rng_below(r, (uint64_t)n), b = (int64_t)rng_below(r, (uint64_t)n - 1);
            if (b >= a) b++;
            int v = (int)rng_below(r, (uint64_t)n_values[form]);
            if (nlvr_truth(form, v, &scenes[a], &scenes[b]) != want_true) continue;
            pair[0] = a;
            pair[1] = b;
            nlvr_write(form, v, out);
            return 0;
        }
    }
    return error_set("NLVR2 statement: no pair of the %lld images makes a %s statement", (long long)n,
                     want_true ? "true" : "false");
}
