/* SNLI-VE hypotheses and NLVR2 statements of the synthetic world
 * (data/synth_claims.h): each label follows from the scene(s) as the header
 * defines it, checked by parsers written here; the labels are balanced; and
 * the texts alone do not tell the label (no sentence, template or word leans
 * to one label beyond sampling noise). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/snli_ve.h"
#include "data/synth_claims.h"
#include "data/synth_scene.h"
#include "tests/test.h"

static const char *const colours[SYNTH_N_COLOURS] = {"red", "green", "blue", "yellow", "purple", "orange", "white", "black"};
static const char *const shapes[SYNTH_N_SHAPES] = {"circle", "square", "triangle", "diamond", "cross"};

static int word_index(const char *const *words, int n, const char *w) {
    for (int k = 0; k < n; k++)
        if (!strcmp(words[k], w)) return k;
    return -1;
}

static const SynthObject *find(const SynthScene *s, const char *colour, const char *shape) {
    int c = word_index(colours, SYNTH_N_COLOURS, colour), h = word_index(shapes, SYNTH_N_SHAPES, shape);
    if (c < 0 || h < 0) return NULL;
    for (int i = 0; i < s->n; i++)
        if ((int)s->obj[i].colour == c && (int)s->obj[i].shape == h) return &s->obj[i];
    return NULL;
}

static int known_colour_shape(const char *colour, const char *shape) {
    return word_index(colours, SYNTH_N_COLOURS, colour) >= 0 && word_index(shapes, SYNTH_N_SHAPES, shape) >= 0;
}

/* Nominal layout (data/synth_scene.h), order left, right, top, bottom, center. */
static const int x_rank[5] = {0, 2, 1, 1, 1}, y_rank[5] = {1, 1, 0, 2, 1};

/* The SNLI-VE label of "the C S is REST" on scene s, or -1 when unparsable. */
static int ve_label(const SynthScene *s, const char *t) {
    char c1[32], s1[32];
    int used = 0;
    if (sscanf(t, "the %31s %31s is %n", c1, s1, &used) != 2 || !used || !known_colour_shape(c1, s1)) return -1;
    const char *rest = t + used;
    static const char *const sizes[5] = {"small", "little", "tiny", "large", "big"};
    static const char *const places[5][3] = {{"on the left", "at the left", "on the left side"},
                                             {"on the right", "at the right", "on the right side"},
                                             {"at the top", "near the top", "at the top"},
                                             {"at the bottom", "near the bottom", "at the bottom"},
                                             {"in the center", "in the middle", "in the center"}};
    static const char *const relations[8] = {"to the left of the ", "left of the ", "to the right of the ", "right of the ",
                                             "above the ",          "over the ",    "below the ",           "under the "};
    const SynthObject *a = find(s, c1, s1);
    int k = word_index(sizes, 5, rest);
    if (k >= 0) return !a ? SNLI_VE_NEUTRAL : ((int)a->size == (k >= 3)) ? SNLI_VE_ENTAILMENT : SNLI_VE_CONTRADICTION;
    for (int p = 0; p < 5; p++)
        for (int v = 0; v < 3; v++)
            if (!strcmp(rest, places[p][v]))
                return !a ? SNLI_VE_NEUTRAL : (int)a->pos == p ? SNLI_VE_ENTAILMENT : SNLI_VE_CONTRADICTION;
    for (int r = 0; r < 8; r++) {
        size_t n = strlen(relations[r]);
        char c2[32], s2[32], tail[8];
        if (strncmp(rest, relations[r], n) || sscanf(rest + n, "%31s %31s %7s", c2, s2, tail) != 2) continue;
        if (!known_colour_shape(c2, s2) || (!strcmp(c1, c2) && !strcmp(s1, s2))) return -1;
        const SynthObject *b = find(s, c2, s2);
        if (!a || !b) return SNLI_VE_NEUTRAL;
        int rel = r / 2, holds = rel == 0   ? x_rank[a->pos] < x_rank[b->pos]
                                 : rel == 1 ? x_rank[a->pos] > x_rank[b->pos]
                                 : rel == 2 ? y_rank[a->pos] < y_rank[b->pos]
                                            : y_rank[a->pos] > y_rank[b->pos];
        return holds ? SNLI_VE_ENTAILMENT : SNLI_VE_CONTRADICTION;
    }
    return -1;
}

static int has(const SynthScene *s, int colour, int shape) {
    for (int i = 0; i < s->n; i++)
        if ((colour < 0 || (int)s->obj[i].colour == colour) && (shape < 0 || (int)s->obj[i].shape == shape)) return 1;
    return 0;
}

/* The truth of an NLVR2 statement on (l, r), or -1 when unparsable. */
static int nlvr_truth(const SynthScene *l, const SynthScene *r, const char *t) {
    char a[32], b[32], w[32], tail[8];
    if (sscanf(t, "there are more shapes in the %31s image than in the %31s image%7s", a, b, tail) == 2) {
        if (!strcmp(a, "left") && !strcmp(b, "right")) return l->n > r->n;
        if (!strcmp(a, "right") && !strcmp(b, "left")) return r->n > l->n;
        return -1;
    }
    int both = !strncmp(t, "both images contain ", 20), one = !strncmp(t, "exactly one image contains ", 27);
    if (!both && !one) return -1;
    int n = sscanf(t + (both ? 20 : 27), "%31s %31s %31s %7s", a, b, w, tail);
    int colour = word_index(colours, SYNTH_N_COLOURS, b), shape = word_index(shapes, SYNTH_N_SHAPES, b);
    if (n == 3 && colour >= 0 && !strcmp(w, "shape"))
        return both ? has(l, colour, -1) && has(r, colour, -1) : has(l, colour, -1) != has(r, colour, -1);
    if (n == 2 && both && shape >= 0) return has(l, -1, shape) && has(r, -1, shape);
    return -1;
}

TEST(test_synth_ve_labels_follow_the_scene_facts) {
    enum { SCENES = 300, PER_LABEL = 2 };
    int per_label[3] = {0, 0, 0};
    for (int i = 0; i < SCENES; i++) {
        SynthScene s;
        synth_scene_sample(5, i, &s);
        SynthHypothesis h[3 * PER_LABEL];
        ASSERT_EQ_INT(synth_ve_hypotheses(&s, 5, i, PER_LABEL, h), 3 * PER_LABEL);
        for (int k = 0; k < 3 * PER_LABEL; k++) {
            int want = ve_label(&s, h[k].text);
            ASSERT_MSG(want >= 0, "unparsable hypothesis \"%s\"", h[k].text);
            ASSERT_MSG(h[k].label == want, "scene %d: \"%s\" labelled %s, the scene says %s", i, h[k].text,
                       snli_ve_label_name(h[k].label), snli_ve_label_name(want));
            ASSERT_EQ_INT(h[k].label, k % 3); /* contradiction, neutral, entailment in turn */
            per_label[h[k].label]++;
        }
    }
    for (int l = 0; l < 3; l++) ASSERT_EQ_INT(per_label[l], SCENES * PER_LABEL);
}

TEST(test_synth_nlvr_statements_hold_on_their_pair) {
    enum { SCENES = 60, ITEMS = 600 };
    SynthScene s[SCENES];
    for (int i = 0; i < SCENES; i++) synth_scene_sample(3, i, &s[i]);
    Rng r = rng_make(3, 99);
    for (int i = 0; i < ITEMS; i++) {
        char text[SYNTH_TEXT_MAX];
        int64_t pair[2];
        int want = i % 2;
        ASSERT_MSG(synth_nlvr_item(s, SCENES, &r, want, pair, text) == 0, "%s", error_message());
        ASSERT(pair[0] >= 0 && pair[0] < SCENES && pair[1] >= 0 && pair[1] < SCENES && pair[0] != pair[1]);
        int truth = nlvr_truth(&s[pair[0]], &s[pair[1]], text);
        ASSERT_MSG(truth == want, "item %d: \"%s\" should be %d, parsed %d", i, text, want, truth);
    }
}

TEST(test_synth_nlvr_items_exist_in_a_split_of_two_images) {
    /* Any two different scenes make a true statement (they share a colour, or one
     * has a colour the other lacks) and a false one (a side without more shapes). */
    for (int i = 0; i < 50; i++) {
        SynthScene s[2];
        synth_scene_sample(4, 2 * i, &s[0]);
        synth_scene_sample(4, 2 * i + 1, &s[1]);
        Rng r = rng_make(4, (uint64_t)i);
        for (int want = 0; want < 2; want++) {
            char text[SYNTH_TEXT_MAX];
            int64_t pair[2];
            ASSERT_MSG(synth_nlvr_item(s, 2, &r, want, pair, text) == 0, "%s", error_message());
            ASSERT_EQ_INT(nlvr_truth(&s[pair[0]], &s[pair[1]], text), want);
        }
    }
    SynthScene one;
    synth_scene_sample(4, 0, &one);
    Rng r = rng_make(4, 0);
    char text[SYNTH_TEXT_MAX];
    int64_t pair[2];
    ASSERT(synth_nlvr_item(&one, 1, &r, 1, pair, text) == -1);
    ASSERT_STR_CONTAINS(error_message(), "1 images, a pair needs 2");
}

/* Label counts per key: texts as keys, found by linear probing in a table of distinct keys. */
#define MAX_KEYS 4096
typedef struct {
    char key[MAX_KEYS][SYNTH_TEXT_MAX];
    int count[MAX_KEYS][3];
    int n;
} LabelTable;

static int *table_row(LabelTable *t, const char *key) {
    for (int k = 0; k < t->n; k++)
        if (!strcmp(t->key[k], key)) return t->count[k];
    CHECK(t->n < MAX_KEYS, "test table full");
    strcpy(t->key[t->n], key);
    memset(t->count[t->n], 0, sizeof t->count[t->n]);
    return t->count[t->n++];
}

/* The text with colour and shape words replaced by C and S. */
static void template_of(const char *t, char out[SYNTH_TEXT_MAX]) {
    char buf[SYNTH_TEXT_MAX];
    strcpy(buf, t);
    out[0] = '\0';
    for (char *w = strtok(buf, " "); w; w = strtok(NULL, " ")) {
        const char *put = word_index(colours, SYNTH_N_COLOURS, w) >= 0 ? "C" : word_index(shapes, SYNTH_N_SHAPES, w) >= 0 ? "S" : w;
        if (out[0]) strcat(out, " ");
        strcat(out, put);
    }
}

/* Checks every key seen at least min_n times: each label's share within tol
 * of 1/n_labels. Returns the number of keys checked, or -1 naming the first
 * one out of bounds in *bad. */
static int shares_near_chance(const LabelTable *t, int n_labels, int min_n, double tol, int *bad) {
    int checked = 0;
    for (int k = 0; k < t->n; k++) {
        int total = 0;
        for (int l = 0; l < n_labels; l++) total += t->count[k][l];
        if (total < min_n) continue;
        checked++;
        for (int l = 0; l < n_labels; l++)
            if (fabs((double)t->count[k][l] / total - 1.0 / n_labels) > tol) {
                *bad = k;
                return -1;
            }
    }
    return checked;
}

/* Items for the text-only checks: sentences and labels, the first half for fitting. */
typedef struct {
    char (*text)[SYNTH_TEXT_MAX];
    int *label;
    int n;
} Items;

/* Accuracy on the second half of predicting each sentence's most frequent label
 * in the first half (the first half's most frequent label for an unseen one). */
static double sentence_bound(const Items *it, int n_labels, LabelTable *t) {
    t->n = 0;
    int half = it->n / 2, overall[3] = {0, 0, 0};
    for (int i = 0; i < half; i++) {
        table_row(t, it->text[i])[it->label[i]]++;
        overall[it->label[i]]++;
    }
    int fallback = 0, correct = 0;
    for (int l = 1; l < n_labels; l++)
        if (overall[l] > overall[fallback]) fallback = l;
    int seen_n = t->n;
    for (int i = half; i < it->n; i++) {
        int pred = fallback;
        for (int k = 0; k < seen_n; k++) {
            if (strcmp(t->key[k], it->text[i])) continue;
            for (int l = 0; l < n_labels; l++)
                if (t->count[k][l] > t->count[k][pred]) pred = l;
            break;
        }
        correct += pred == it->label[i];
    }
    return (double)correct / (it->n - half);
}

/* Labels balanced and no template or word leaning to a label: checks on n items. */
static void check_text_says_nothing(const Items *it, int n_labels, int min_templates, const char *task) {
    static LabelTable t;
    int per_label[3] = {0, 0, 0}, bad = 0;
    for (int i = 0; i < it->n; i++) per_label[it->label[i]]++;
    for (int l = 0; l < n_labels; l++) ASSERT_EQ_INT(per_label[l], it->n / n_labels);

    t.n = 0; /* templates: 20-odd for SNLI-VE, 7 for NLVR2, a few hundred items each */
    for (int i = 0; i < it->n; i++) {
        char key[SYNTH_TEXT_MAX];
        template_of(it->text[i], key);
        table_row(&t, key)[it->label[i]]++;
    }
    int checked = shares_near_chance(&t, n_labels, 150, 0.1, &bad);
    ASSERT_MSG(checked >= 0, "%s template \"%s\": labels %d/%d/%d", task, t.key[bad], t.count[bad][0], t.count[bad][1],
               t.count[bad][2]);
    ASSERT_MSG(checked >= min_templates, "%s: %d templates checked", task, checked);

    t.n = 0; /* single words, counted once per sentence */
    for (int i = 0; i < it->n; i++) {
        char buf[SYNTH_TEXT_MAX];
        const char *words[64];
        int n_words = 0;
        strcpy(buf, it->text[i]);
        for (char *w = strtok(buf, " "); w && n_words < 64; w = strtok(NULL, " ")) {
            int dup = 0;
            for (int k = 0; k < n_words; k++) dup |= !strcmp(words[k], w);
            if (dup) continue;
            words[n_words++] = w;
            table_row(&t, w)[it->label[i]]++;
        }
    }
    checked = shares_near_chance(&t, n_labels, 150, 0.1, &bad);
    ASSERT_MSG(checked >= 0, "%s word \"%s\": labels %d/%d/%d", task, t.key[bad], t.count[bad][0], t.count[bad][1],
               t.count[bad][2]);
    ASSERT_MSG(checked >= 10, "%s: %d words checked", task, checked);

    double acc = sentence_bound(it, n_labels, &t);
    ASSERT_MSG(acc < 1.0 / n_labels + 0.05, "%s: the sentence alone predicts %.3f of held-out labels", task, acc);
}

TEST(test_synth_claims_texts_do_not_tell_the_label) {
    enum { VE_SCENES = 1500, NLVR_SCENES = 300, NLVR_ITEMS = 4000 };
    Items ve = {malloc(VE_SCENES * 6 * sizeof *ve.text), malloc(VE_SCENES * 6 * sizeof(int)), 0};
    Items nl = {malloc(NLVR_ITEMS * sizeof *nl.text), malloc(NLVR_ITEMS * sizeof(int)), 0};
    CHECK(ve.text && ve.label && nl.text && nl.label, "out of memory");
    static SynthScene s[VE_SCENES];
    for (int i = 0; i < VE_SCENES; i++) {
        synth_scene_sample(9, i, &s[i]);
        SynthHypothesis h[6];
        int n = synth_ve_hypotheses(&s[i], 9, i, 2, h);
        for (int k = 0; k < n; k++) {
            strcpy(ve.text[ve.n], h[k].text);
            ve.label[ve.n++] = h[k].label;
        }
    }
    Rng r = rng_make(9, 1);
    for (int i = 0; i < NLVR_ITEMS; i++) {
        int64_t pair[2];
        CHECK(synth_nlvr_item(s, NLVR_SCENES, &r, i % 2, pair, nl.text[nl.n]) == 0, "%s", error_message());
        nl.label[nl.n++] = i % 2;
    }
    check_text_says_nothing(&ve, 3, 15, "SNLI-VE");
    check_text_says_nothing(&nl, 2, 5, "NLVR2");
    free(ve.text);
    free(ve.label);
    free(nl.text);
    free(nl.label);
}
