/* BERT basic tokenizer (see data/tokenizer_basic.h for the steps and why). */
#include "data/tokenizer_basic.h"

#include <string.h>

#include "data/unicode.h"

const char *const tokenizer_special_names[TOK_SPECIAL_COUNT] = {"[PAD]", "[UNK]", "[CLS]",
                                                                 "[SEP]", "[MASK]"};

typedef struct {
    /* Room for TOKENIZER_MAX_WORD_CHARS characters of up to 4 bytes; beyond
     * that only the count grows. */
    char bytes[4 * TOKENIZER_MAX_WORD_CHARS + 4];
    int off[TOKENIZER_MAX_WORD_CHARS + 2];
    int nchars, nbytes;
    BasicWordFn fn;
    void *ctx;
} WordBuf;

static void word_flush(WordBuf *w) {
    if (w->nchars == 0) return;
    BasicWord out = {w->bytes, w->nbytes, w->nchars, w->off, -1};
    if (w->nchars > TOKENIZER_MAX_WORD_CHARS) out.bytes = NULL, out.nbytes = 0, out.char_off = NULL;
    w->fn(w->ctx, &out);
    w->nchars = 0;
    w->nbytes = 0;
}

static void word_push(WordBuf *w, uint32_t cp) {
    if (w->nchars < TOKENIZER_MAX_WORD_CHARS) {
        w->off[w->nchars] = w->nbytes;
        w->nbytes += utf8_encode(cp, w->bytes + w->nbytes);
        w->off[w->nchars + 1] = w->nbytes;
        w->nchars++;
    } else if (w->nchars == TOKENIZER_MAX_WORD_CHARS) {
        w->nchars++; /* over the limit: the word will be [UNK], its text no longer matters */
    }
}

static void word_single(WordBuf *w, uint32_t cp) {
    word_flush(w);
    word_push(w, cp);
    word_flush(w);
}

/* Index of the special token starting at s (n bytes left), or -1. */
static int special_at(const char *s, size_t n) {
    if (s[0] != '[') return -1;
    for (int k = 0; k < TOK_SPECIAL_COUNT; k++) {
        size_t len = strlen(tokenizer_special_names[k]);
        if (len <= n && memcmp(s, tokenizer_special_names[k], len) == 0) return k;
    }
    return -1;
}

void bert_basic_tokenize(const char *text, size_t len, BasicWordFn fn, void *ctx) {
    WordBuf w;
    w.nchars = w.nbytes = 0;
    w.fn = fn;
    w.ctx = ctx;
    size_t pos = 0;
    while (pos < len) {
        int sp = special_at(text + pos, len - pos);
        if (sp >= 0) {
            word_flush(&w);
            static const int special_off[2] = {0, 0};
            const char *name = tokenizer_special_names[sp];
            BasicWord out = {name, (int)strlen(name), 1, special_off, sp};
            fn(ctx, &out);
            pos += strlen(name);
            continue;
        }
        uint32_t cp = utf8_decode(text, len, &pos);
        if (cp == 0 || cp == 0xFFFD || uni_is_control(cp)) continue;
        if (uni_is_whitespace(cp) || uni_is_py_space(cp)) {
            word_flush(&w);
            continue;
        }
        uint32_t folded[UNI_FOLD_MAX];
        int nf = uni_fold(cp, folded);
        if (uni_is_cjk(cp)) {
            /* A compatibility ideograph folds to its unified twin: one character. */
            for (int k = 0; k < nf; k++) word_single(&w, folded[k]);
            continue;
        }
        for (int k = 0; k < nf; k++) {
            if (uni_is_punct(folded[k]))
                word_single(&w, folded[k]);
            else
                word_push(&w, folded[k]);
        }
    }
    word_flush(&w);
}
