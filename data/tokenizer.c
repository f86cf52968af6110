/* WordPiece stage and vocabulary of the BERT tokenizer (see data/tokenizer.h). */
#include "data/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/unicode.h"

struct Tokenizer {
    char *pool;        /* the file's bytes, each line end replaced by NUL */
    uint32_t *tok_off; /* token id -> offset in pool */
    uint32_t *tok_len; /* token id -> length in bytes */
    int32_t n_tokens;
    int32_t *slots; /* open-addressing hash table of ids, -1 = empty */
    uint32_t *slot_hash;
    uint32_t mask_bits; /* table size - 1 (a power of two) */
    int max_token_bytes;
    TokenizerSpecial special;
};

/* FNV-1a, 32-bit: tokens are short, so a simple byte hash is fast enough. */
#define FNV_BASIS 2166136261u
static uint32_t fnv_bytes(uint32_t h, const char *s, size_t n) {
    for (size_t k = 0; k < n; k++) h = (h ^ (unsigned char)s[k]) * 16777619u;
    return h;
}

/* Finds the id of prefix + s[0..n) ("##" continuation prefix or ""). */
static int32_t lookup(const Tokenizer *tok, const char *prefix, int plen, const char *s, int n) {
    uint32_t h = fnv_bytes(fnv_bytes(FNV_BASIS, prefix, (size_t)plen), s, (size_t)n);
    uint32_t len = (uint32_t)(plen + n);
    for (uint32_t i = h & tok->mask_bits;; i = (i + 1) & tok->mask_bits) {
        int32_t id = tok->slots[i];
        if (id < 0) return -1;
        if (tok->slot_hash[i] == h && tok->tok_len[id] == len) {
            const char *t = tok->pool + tok->tok_off[id];
            if (memcmp(t, prefix, (size_t)plen) == 0 && memcmp(t + plen, s, (size_t)n) == 0)
                return id;
        }
    }
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->pool);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->slots);
    free(tok->slot_hash);
    free(tok);
}

Tokenizer *tokenizer_load(const char *path) {
    size_t size;
    char *buf = file_read_all(path, &size);
    if (!buf) return NULL;
    Tokenizer *tok = calloc(1, sizeof *tok);
    CHECK(tok, "out of memory");
    tok->pool = buf;
    size_t start = 0;
    if (size >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) start = 3;
    /* Count lines: a final line end does not start another (empty) line. */
    int64_t n_lines = 0;
    for (size_t k = start; k < size; k++)
        if (buf[k] == '\n' || k + 1 == size) n_lines++;
    if (n_lines == 0) {
        error_set("%s: empty vocabulary file", path);
        goto fail;
    }
    if (n_lines > INT32_MAX / 4) {
        error_set("%s: %lld lines: too many tokens", path, (long long)n_lines);
        goto fail;
    }
    tok->n_tokens = (int32_t)n_lines;
    tok->tok_off = malloc((size_t)n_lines * sizeof *tok->tok_off);
    tok->tok_len = malloc((size_t)n_lines * sizeof *tok->tok_len);
    uint32_t cap = 16;
    while (cap < 2 * (uint32_t)n_lines) cap *= 2;
    tok->mask_bits = cap - 1;
    tok->slots = malloc(cap * sizeof *tok->slots);
    tok->slot_hash = malloc(cap * sizeof *tok->slot_hash);
    CHECK(tok->tok_off && tok->tok_len && tok->slots && tok->slot_hash, "out of memory");
    memset(tok->slots, 0xFF, cap * sizeof *tok->slots);
    if (size > UINT32_MAX) {
        error_set("%s: file too large for a vocabulary", path);
        goto fail;
    }

    size_t line_start = start;
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        size_t end = line_start;
        while (end < size && buf[end] != '\n') end++;
        size_t len = end - line_start;
        if (end < size) buf[end] = '\0';
        if (len > 0 && buf[line_start + len - 1] == '\r') buf[line_start + --len] = '\0';
        const char *t = buf + line_start;
        if (len == 0) {
            error_set("%s: line %d: empty token", path, id + 1);
            goto fail;
        }
        /* A NUL would cut the token short wherever it is used as a string. */
        if (memchr(t, '\0', len)) {
            error_set("%s: line %d: contains a NUL byte", path, id + 1);
            goto fail;
        }
        if (!utf8_valid(t, len)) {
            error_set("%s: line %d: invalid UTF-8", path, id + 1);
            goto fail;
        }
        tok->tok_off[id] = (uint32_t)line_start;
        tok->tok_len[id] = (uint32_t)len;
        uint32_t h = fnv_bytes(FNV_BASIS, t, len);
        uint32_t i = h & tok->mask_bits;
        for (; tok->slots[i] >= 0; i = (i + 1) & tok->mask_bits) {
            int32_t other = tok->slots[i];
            if (tok->slot_hash[i] == h && tok->tok_len[other] == len &&
                memcmp(buf + tok->tok_off[other], t, len) == 0) {
                error_set("%s: line %d: duplicate token \"%s\" (first on line %d)", path, id + 1,
                          t, other + 1);
                goto fail;
            }
        }
        tok->slots[i] = id;
        tok->slot_hash[i] = h;
        if ((int)len > tok->max_token_bytes) tok->max_token_bytes = (int)len;
        line_start = end + 1;
    }
    /* The final line may lack its line end: it is NUL-terminated by file_read_all. */

    int32_t *ids[TOK_SPECIAL_COUNT] = {&tok->special.pad, &tok->special.unk, &tok->special.cls,
                                       &tok->special.sep, &tok->special.mask};
    for (int k = 0; k < TOK_SPECIAL_COUNT; k++) {
        const char *name = tokenizer_special_names[k];
        *ids[k] = lookup(tok, "", 0, name, (int)strlen(name));
        if (*ids[k] < 0 && k != TOK_SPECIAL_MASK) {
            error_set("%s: %s: special token missing from the vocabulary", path, name);
            goto fail;
        }
    }
    return tok;
fail:
    tokenizer_free(tok);
    return NULL;
}

int32_t tokenizer_vocab_size(const Tokenizer *tok) { return tok->n_tokens; }
TokenizerSpecial tokenizer_special(const Tokenizer *tok) { return tok->special; }

int32_t tokenizer_token_id(const Tokenizer *tok, const char *token) {
    return lookup(tok, "", 0, token, (int)strlen(token));
}

const char *tokenizer_token(const Tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_tokens) return NULL;
    return tok->pool + tok->tok_off[id];
}

typedef struct {
    const Tokenizer *tok;
    int32_t *ids;
    int64_t cap, n;
} Emit;

static void emit(Emit *e, int32_t id) {
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

/* HF WordpieceTokenizer: greedy longest match first, from the left. */
static void wordpiece(void *ctx, const BasicWord *w) {
    Emit *e = ctx;
    const Tokenizer *tok = e->tok;
    if (w->special >= 0) {
        const TokenizerSpecial *sp = &tok->special;
        int32_t by_kind[TOK_SPECIAL_COUNT] = {sp->pad, sp->unk, sp->cls, sp->sep, sp->mask};
        int32_t id = by_kind[w->special];
        emit(e, id >= 0 ? id : tok->special.unk);
        return;
    }
    if (!w->bytes) {
        emit(e, tok->special.unk);
        return;
    }
    int32_t pieces[TOKENIZER_MAX_WORD_CHARS];
    int n_pieces = 0;
    int start = 0;
    while (start < w->nchars) {
        int plen = start > 0 ? 2 : 0;
        int end = w->nchars;
        /* No vocabulary token is longer than max_token_bytes: skip those ends. */
        while (end > start && plen + w->char_off[end] - w->char_off[start] > tok->max_token_bytes)
            end--;
        int32_t id = -1;
        for (; end > start; end--) {
            id = lookup(tok, "##", plen, w->bytes + w->char_off[start],
                        w->char_off[end] - w->char_off[start]);
            if (id >= 0) break;
        }
        if (id < 0) {
            emit(e, tok->special.unk);
            return;
        }
        pieces[n_pieces++] = id;
        start = end;
    }
    for (int k = 0; k < n_pieces; k++) emit(e, pieces[k]);
}

int64_t tokenizer_tokenize(const Tokenizer *tok, const char *text, int32_t *ids, int64_t cap) {
    Emit e = {tok, ids, cap, 0};
    bert_basic_tokenize(text, strlen(text), wordpiece, &e);
    return e.n;
}

int tokenizer_encode(const Tokenizer *tok, const char *text, int max_len, int32_t *ids,
                     int32_t *mask) {
    CHECK(max_len >= 2, "max_len %d leaves no room for [CLS] and [SEP]", max_len);
    /* Truncation keeps the first max_len - 2 pieces; [SEP] always ends the text (§2.1). */
    int64_t n = tokenizer_tokenize(tok, text, ids + 1, max_len - 2);
    int k = n < max_len - 2 ? (int)n : max_len - 2;
    ids[0] = tok->special.cls;
    ids[k + 1] = tok->special.sep;
    for (int j = k + 2; j < max_len; j++) ids[j] = tok->special.pad;
    if (mask)
        for (int j = 0; j < max_len; j++) mask[j] = j < k + 2;
    return k + 2;
}

int tokenizer_encode_batch(const Tokenizer *tok, const char *const *texts, int64_t n,
                           int max_len, int32_t *ids, int32_t *mask) {
    CHECK(max_len >= 2, "max_len %d leaves no room for [CLS] and [SEP]", max_len);
    int longest = 0;
#pragma omp parallel for schedule(dynamic, 64) reduction(max : longest) if (n >= 1024)
    for (int64_t i = 0; i < n; i++) {
        int len = tokenizer_encode(tok, texts[i], max_len, ids + i * max_len,
                                   mask ? mask + i * max_len : NULL);
        if (len > longest) longest = len;
    }
    return longest;
}
