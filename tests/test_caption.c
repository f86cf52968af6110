/* pre_caption (data/caption.h, spec/albef_blip.md §6.4). Expected strings are
 * the outputs of the LAVIS and salesforce/ALBEF functions as the spec states
 * them, run under /usr/bin/python3 (re, str.lower) on the same inputs. */
#include <stdlib.h>
#include <string.h>

#include "data/caption.h"
#include "tests/test.h"

static int check(const char *in, CaptionStyle style, int max_words, const char *want) {
    char *got = pre_caption(in, style, max_words);
    int ok = strcmp(got, want) == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "pre_caption(\"%s\") = \"%s\", want \"%s\"", in, got, want);
    free(got);
    return ok;
}

TEST(test_caption_lavis_pre_caption_cases) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        /* The 10 characters become spaces, whitespace runs collapse, ends stripped. */
        {"A man (in red) rides a bike!!  Near #5: the  lake~", "a man in red rides a bike near 5 the lake"},
        /* Commas, apostrophes, question marks, hyphens and slashes stay. */
        {"Don't, you? state-of-the-art / x", "don't, you? state-of-the-art / x"},
        /* A single tab or newline is not a run of 2: it stays. */
        {"a\tb", "a\tb"},
        {"a\t\tb", "a b"},
        {"a \tb", "a b"},
        {"a cat\n", "a cat"},
        {"\na cat", "\na cat"}, /* only trailing newlines are stripped */
        /* Unicode: full lower-casing, final sigma by context, Unicode \s. */
        {"ÉCOLE ΟΔΟΣ.", "école οδος"},
        {"ΣΑ ΑΣ ᾼΣ", "σα ας ᾳς"},
        {"İ", "i\xcc\x87"},
        {"a\xc2\xa0\xc2\xa0" "b\xe3\x80\x80" "c", "a b\xe3\x80\x80" "c"},
        {"", ""},
        {"...", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        if (!check(cases[k].in, CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS, cases[k].want)) return;
}

TEST(test_caption_max_words_50_lavis_30_original) {
    char in[1024], want50[1024], want30[1024];
    size_t n = 0, n50 = 0, n30 = 0;
    for (int k = 0; k < 60; k++) {
        n += (size_t)sprintf(in + n, "%sW%d", k ? "  " : "", k);
        if (k < 50) n50 += (size_t)sprintf(want50 + n50, "%sw%d", k ? " " : "", k);
        if (k < 30) n30 += (size_t)sprintf(want30 + n30, "%sw%d", k ? " " : "", k);
    }
    if (!check(in, CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS, want50)) return;
    if (!check(in, CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_ORIG, want30)) return;
    /* Items are split on single spaces: "a\tb" is one item. */
    if (!check("a\tb c d", CAPTION_LAVIS, 2, "a\tb c")) return;
    check("one two", CAPTION_LAVIS, 2, "one two");
}

TEST(test_caption_original_albef_variant) {
    if (!check("A <PERSON> in a well-lit room, isn't it?  Yes/no", CAPTION_ORIG_ALBEF,
               PRE_CAPTION_MAX_WORDS_ORIG, "a person in a well lit room isnt it yes no"))
        return;
    /* Deletions first, then - and / to spaces, then <person>. */
    check("<per-son> ok", CAPTION_ORIG_ALBEF, PRE_CAPTION_MAX_WORDS_ORIG, "<per son> ok");
}
