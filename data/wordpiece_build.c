/* WordPiece vocabulary builder (algorithm and layout: data/wordpiece_build.h). */
#include "data/wordpiece_build.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "data/tokenizer_basic.h"
#include "data/unicode.h"

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < n; k++) h = (h ^ (unsigned char)s[k]) * 16777619u;
    return h;
}

/* Interned strings: words while counting, then symbols while merging. */
typedef struct {
    char **str;
    int *len;
    int64_t *count;
    int n, cap;
    int *slots; /* open addressing, -1 empty */
    int n_slots;
} StrTable;

static void st_rehash(StrTable *t) {
    t->n_slots = t->n_slots ? 2 * t->n_slots : 1024;
    t->slots = xrealloc(t->slots, (size_t)t->n_slots * sizeof *t->slots);
    memset(t->slots, 0xFF, (size_t)t->n_slots * sizeof *t->slots);
    for (int id = 0; id < t->n; id++) {
        uint32_t i = hash_bytes(t->str[id], (size_t)t->len[id]) & (uint32_t)(t->n_slots - 1);
        while (t->slots[i] >= 0) i = (i + 1) & (uint32_t)(t->n_slots - 1);
        t->slots[i] = id;
    }
}

/* Id of s[0..n), added with count 0 when new; *added tells which. */
static int st_intern(StrTable *t, const char *s, int n, int *added) {
    if (2 * (t->n + 1) > t->n_slots) st_rehash(t);
    uint32_t i = hash_bytes(s, (size_t)n) & (uint32_t)(t->n_slots - 1);
    for (; t->slots[i] >= 0; i = (i + 1) & (uint32_t)(t->n_slots - 1)) {
        int id = t->slots[i];
        if (t->len[id] == n && memcmp(t->str[id], s, (size_t)n) == 0) {
            if (added) *added = 0;
            return id;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->str = xrealloc(t->str, (size_t)t->cap * sizeof *t->str);
        t->len = xrealloc(t->len, (size_t)t->cap * sizeof *t->len);
        t->count = xrealloc(t->count, (size_t)t->cap * sizeof *t->count);
    }
    int id = t->n++;
    t->str[id] = xrealloc(NULL, (size_t)n + 1);
    memcpy(t->str[id], s, (size_t)n);
    t->str[id][n] = '\0';
    t->len[id] = n;
    t->count[id] = 0;
    t->slots[i] = id;
    if (added) *added = 1;
    return id;
}

static void st_free(StrTable *t) {
    for (int k = 0; k < t->n; k++) free(t->str[k]);
    free(t->str);
    free(t->len);
    free(t->count);
    free(t->slots);
}

static void count_word(void *ctx, const BasicWord *w) {
    if (w->special >= 0 || !w->bytes) return; /* in the vocabulary anyway / always [UNK] */
    StrTable *words = ctx;
    int id = st_intern(words, w->bytes, w->nbytes, NULL); /* may move words->count */
    words->count[id]++;
}

/* Adjacent-pair frequencies: open addressing on the packed (left, right) key. */
typedef struct {
    uint64_t *key; /* UINT64_MAX = empty */
    int64_t *count;
    int64_t n, n_slots;
} PairTable;

static uint64_t pair_key(int a, int b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static int64_t pair_slot(const PairTable *p, uint64_t key) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    int64_t i = (int64_t)(h >> 20) & (p->n_slots - 1);
    while (p->key[i] != UINT64_MAX && p->key[i] != key) i = (i + 1) & (p->n_slots - 1);
    return i;
}

static void pair_add(PairTable *p, int a, int b, int64_t c) {
    if (2 * (p->n + 1) > p->n_slots) {
        PairTable old = *p;
        p->n_slots = old.n_slots ? 2 * old.n_slots : 4096;
        p->key = xrealloc(NULL, (size_t)p->n_slots * sizeof *p->key);
        p->count = xrealloc(NULL, (size_t)p->n_slots * sizeof *p->count);
        memset(p->key, 0xFF, (size_t)p->n_slots * sizeof *p->key);
        for (int64_t k = 0; k < old.n_slots; k++) {
            if (old.key[k] == UINT64_MAX) continue;
            int64_t i = pair_slot(p, old.key[k]);
            p->key[i] = old.key[k];
            p->count[i] = old.count[k];
        }
        free(old.key);
        free(old.count);
    }
    uint64_t key = pair_key(a, b);
    int64_t i = pair_slot(p, key);
    if (p->key[i] == UINT64_MAX) {
        p->key[i] = key;
        p->count[i] = 0;
        p->n++;
    }
    p->count[i] += c;
}

typedef struct {
    int *sym; /* symbol ids */
    int n;
    int64_t count;
} Word;

static void word_pairs(PairTable *p, const Word *w, int64_t sign) {
    for (int k = 0; k + 1 < w->n; k++) pair_add(p, w->sym[k], w->sym[k + 1], sign * w->count);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Byte k of the merged text of (a, b), or -1 past its end. */
static int merged_byte(const StrTable *s, int a, int b, int k) {
    if (k < s->len[a]) return (unsigned char)s->str[a][k];
    k -= s->len[a] - 2;
    return k < s->len[b] ? (unsigned char)s->str[b][k] : -1;
}

/* strcmp of the merged texts of (a, b) and (c, d), without building them. */
static int cmp_merged(const StrTable *s, int a, int b, int c, int d) {
    for (int k = 0;; k++) {
        int x = merged_byte(s, a, b, k), y = merged_byte(s, c, d, k);
        if (x != y) return x < y ? -1 : 1;
        if (x < 0) return 0;
    }
}

/* Text of merging a and b: the right symbol loses its "##" prefix. */
static int merged_text(const StrTable *s, int a, int b, char **buf, int *cap) {
    int n = s->len[a] + s->len[b] - 2;
    if (n + 1 > *cap) {
        *cap = 2 * (n + 1);
        *buf = xrealloc(*buf, (size_t)*cap);
    }
    memcpy(*buf, s->str[a], (size_t)s->len[a]);
    memcpy(*buf + s->len[a], s->str[b] + 2, (size_t)s->len[b] - 2);
    (*buf)[n] = '\0';
    return n;
}

int wordpiece_build_vocab(const char *const *texts, int64_t n_texts, int vocab_size,
                          const char *out_path) {
    StrTable words = {0}, syms = {0};
    PairTable pairs = {0};
    Word *ws = NULL;
    char **vocab = NULL, *buf = NULL;
    int n_vocab = 0, buf_cap = 0, status = -1;

    for (int64_t i = 0; i < n_texts; i++) bert_basic_tokenize(texts[i], strlen(texts[i]), count_word, &words);
    if (words.n == 0) {
        error_set("%s: vocabulary build: no words in %lld texts", out_path, (long long)n_texts);
        goto done;
    }

    /* The alphabet: every character of every word, as sorted unique strings. */
    StrTable chars = {0};
    for (int w = 0; w < words.n; w++) {
        const char *s = words.str[w];
        size_t pos = 0, n = (size_t)words.len[w];
        while (pos < n) {
            size_t at = pos;
            utf8_decode(s, n, &pos);
            st_intern(&chars, s + at, (int)(pos - at), NULL);
        }
    }
    int n_chars = chars.n;
    char **alpha = xrealloc(NULL, (size_t)n_chars * sizeof *alpha);
    memcpy(alpha, chars.str, (size_t)n_chars * sizeof *alpha);
    qsort(alpha, (size_t)n_chars, sizeof *alpha, cmp_str);
    int needed = TOK_SPECIAL_COUNT + 2 * n_chars;
    if (vocab_size < needed) {
        error_set("%s: vocab size %d: the corpus needs at least %d (5 special tokens and %d "
                  "characters, each also as a ## piece)",
                  out_path, vocab_size, needed, n_chars);
        free(alpha);
        st_free(&chars);
        goto done;
    }

    vocab = xrealloc(NULL, (size_t)vocab_size * sizeof *vocab);
    for (int k = 0; k < TOK_SPECIAL_COUNT; k++) vocab[n_vocab++] = strdup(tokenizer_special_names[k]);
    for (int k = 0; k < n_chars; k++) {
        vocab[n_vocab++] = strdup(alpha[k]);
        st_intern(&syms, alpha[k], (int)strlen(alpha[k]), NULL);
    }
    for (int k = 0; k < n_chars; k++) {
        size_t n = strlen(alpha[k]);
        char *s = xrealloc(NULL, n + 3);
        memcpy(s, "##", 2);
        memcpy(s + 2, alpha[k], n + 1);
        vocab[n_vocab++] = s;
        st_intern(&syms, s, (int)n + 2, NULL);
    }
    free(alpha);
    st_free(&chars);

    /* Words as symbol sequences: first character plain, the rest "##". */
    ws = xrealloc(NULL, (size_t)words.n * sizeof *ws);
    char piece[8];
    for (int w = 0; w < words.n; w++) {
        const char *s = words.str[w];
        size_t pos = 0, n = (size_t)words.len[w];
        ws[w].sym = xrealloc(NULL, n * sizeof(int));
        ws[w].n = 0;
        ws[w].count = words.count[w];
        while (pos < n) {
            size_t at = pos;
            utf8_decode(s, n, &pos);
            int plen = ws[w].n ? 2 : 0;
            memcpy(piece, "##", 2);
            memcpy(piece + plen, s + at, pos - at);
            ws[w].sym[ws[w].n++] = st_intern(&syms, piece, plen + (int)(pos - at), NULL);
        }
        word_pairs(&pairs, &ws[w], 1);
    }

    while (n_vocab < vocab_size) {
        int64_t best = -1;
        int ba = -1, bb = -1;
        for (int64_t i = 0; i < pairs.n_slots; i++) {
            if (pairs.key[i] == UINT64_MAX || pairs.count[i] <= 0 || pairs.count[i] < best) continue;
            int a = (int)(pairs.key[i] >> 32), b = (int)(uint32_t)pairs.key[i];
            if (pairs.count[i] == best) {
                /* Tie: smallest merged string, then smallest left symbol. */
                int c = cmp_merged(&syms, a, b, ba, bb);
                if (c == 0) c = strcmp(syms.str[a], syms.str[ba]);
                if (c >= 0) continue;
            }
            best = pairs.count[i], ba = a, bb = b;
        }
        if (best <= 0) break; /* every word is a single symbol */
        int len = merged_text(&syms, ba, bb, &buf, &buf_cap);
        int added;
        int m = st_intern(&syms, buf, len, &added);
        /* A piece may already exist through another split ("ab"+"##c" vs "a"+"##bc"). */
        if (added) vocab[n_vocab++] = strdup(buf);
        for (int w = 0; w < words.n; w++) {
            Word *wd = &ws[w];
            int hit = 0;
            for (int k = 0; k + 1 < wd->n; k++)
                if (wd->sym[k] == ba && wd->sym[k + 1] == bb) hit = 1;
            if (!hit) continue;
            word_pairs(&pairs, wd, -1);
            int o = 0;
            for (int k = 0; k < wd->n;) {
                if (k + 1 < wd->n && wd->sym[k] == ba && wd->sym[k + 1] == bb) {
                    wd->sym[o++] = m;
                    k += 2;
                } else {
                    wd->sym[o++] = wd->sym[k++];
                }
            }
            wd->n = o;
            word_pairs(&pairs, wd, 1);
        }
    }

    AtomicFile f;
    if (atomic_open(&f, out_path) < 0) goto done;
    for (int k = 0; k < n_vocab; k++) fprintf(f.fp, "%s\n", vocab[k]);
    if (ferror(f.fp)) {
        atomic_fail(&f);
        goto done;
    }
    if (atomic_commit(&f) < 0) goto done;
    status = 0;
done:
    for (int k = 0; k < n_vocab; k++) free(vocab[k]);
    free(vocab);
    free(buf);
    if (ws)
        for (int w = 0; w < words.n; w++) free(ws[w].sym);
    free(ws);
    free(pairs.key);
    free(pairs.count);
    st_free(&words);
    st_free(&syms);
    return status;
}
