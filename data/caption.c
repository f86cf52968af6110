/* pre_caption (spec/albef_blip.md §6.4; see data/caption.h for the steps).
 * Works on code points: Python's lower() and \s are Unicode-aware. */
#include "data/caption.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/unicode.h"

typedef struct {
    uint32_t *cp;
    size_t n, cap;
} CpBuf;

static void cp_push(CpBuf *b, uint32_t c) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->cp = realloc(b->cp, b->cap * sizeof *b->cp);
        CHECK(b->cp, "out of memory");
    }
    b->cp[b->n++] = c;
}

/* Step 1: Python str.lower() of the whole string. Capital sigma needs the
 * context (CPython's Final_Sigma test: cased, case-ignorables, sigma, and no
 * cased letter after the case-ignorables that follow). */
static void lower_all(const uint32_t *in, size_t n, CpBuf *out) {
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0x3A3) {
            size_t j = i;
            while (j > 0 && uni_case_class(in[j - 1]) == UNI_CASE_IGNORABLE) j--;
            int final = j > 0 && uni_case_class(in[j - 1]) == UNI_CASE_CASED;
            if (final) {
                size_t k = i + 1;
                while (k < n && uni_case_class(in[k]) == UNI_CASE_IGNORABLE) k++;
                final = k == n || uni_case_class(in[k]) != UNI_CASE_CASED;
            }
            cp_push(out, final ? 0x3C2 : 0x3C3);
            continue;
        }
        uint32_t low[2];
        int m = uni_lower(in[i], low);
        for (int k = 0; k < m; k++) cp_push(out, low[k]);
    }
}

static int is_lavis_space_char(uint32_t c) { return c && c < 0x80 && strchr(".!\"()*#:;~", (int)c); }
static int is_albef_deleted(uint32_t c) { return c && c < 0x80 && strchr(",.'!?\"()*#:;~", (int)c); }

char *pre_caption(const char *caption, CaptionStyle style, int max_words) {
    CHECK(max_words >= 1, "max_words %d", max_words);
    size_t len = strlen(caption), pos = 0;
    CpBuf raw = {0}, a = {0}, b = {0};
    while (pos < len) cp_push(&raw, utf8_decode(caption, len, &pos));
    lower_all(raw.cp, raw.n, &a);

    /* Step 2. */
    b.n = 0;
    for (size_t i = 0; i < a.n; i++) {
        uint32_t c = a.cp[i];
        if (style == CAPTION_LAVIS) {
            cp_push(&b, is_lavis_space_char(c) ? ' ' : c);
        } else if (is_albef_deleted(c)) {
            continue;
        } else if (c == '-' || c == '/') {
            cp_push(&b, ' ');
        } else {
            cp_push(&b, c);
        }
    }
    if (style == CAPTION_ORIG_ALBEF) { /* "<person>" -> "person", after the deletions */
        static const char tag[] = "<person>";
        size_t w = 0;
        for (size_t i = 0; i < b.n;) {
            size_t k = 0;
            while (k < 8 && i + k < b.n && b.cp[i + k] == (uint32_t)tag[k]) k++;
            if (k == 8) {
                for (k = 1; k < 7; k++) b.cp[w++] = (uint32_t)tag[k];
                i += 8;
            } else {
                b.cp[w++] = b.cp[i++];
            }
        }
        b.n = w;
    }

    /* Step 3: runs of >= 2 whitespace characters become one space. */
    a.n = 0;
    for (size_t i = 0; i < b.n;) {
        size_t j = i;
        while (j < b.n && uni_is_py_space(b.cp[j])) j++;
        if (j - i >= 2) {
            cp_push(&a, ' ');
            i = j;
        } else {
            cp_push(&a, b.cp[i++]);
        }
    }
    /* Step 4: rstrip("\n"), then strip(" "). */
    size_t lo = 0, hi = a.n;
    while (hi > lo && a.cp[hi - 1] == '\n') hi--;
    while (hi > lo && a.cp[hi - 1] == ' ') hi--;
    while (lo < hi && a.cp[lo] == ' ') lo++;
    /* Step 5: keep the first max_words space-separated items. */
    int words = 1;
    size_t end = lo;
    for (; end < hi; end++)
        if (a.cp[end] == ' ' && ++words > max_words) break;

    char *out = malloc(4 * (end - lo) + 1);
    CHECK(out, "out of memory");
    size_t o = 0;
    for (size_t i = lo; i < end; i++) o += (size_t)utf8_encode(a.cp[i], out + o);
    out[o] = '\0';
    free(raw.cp);
    free(a.cp);
    free(b.cp);
    return out;
}
