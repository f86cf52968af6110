/* BERT WordPiece tokenizer (data/tokenizer.h) against the behaviour of Hugging
 * Face's BertTokenizer(do_lower_case=True). transformers is not installed on
 * this machine, so the expected pieces were derived by hand from HF's
 * algorithm (per-character lower-casing in PreTrainedTokenizer.tokenize,
 * BasicTokenizer: clean, CJK, whitespace split, NFD minus Mn, punctuation
 * split; WordpieceTokenizer: greedy longest match, 100-character limit); each
 * case says which rule it exercises. The vocabulary is written by the test in
 * the bert-base-uncased layout: [PAD]=0, [unused0..98], [UNK]=100, [CLS]=101,
 * [SEP]=102, [MASK]=103, more [unused], then words and ## pieces from id 109. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/tokenizer.h"
#include "data/unicode.h"
#include "tests/test.h"

#define FIRST_WORD_ID 109
static const char *const test_words[] = {
    "!", "\"", "$", "'", "(", ")", "+", ",", "-", ".",             /* 109-118 */
    "/", "1", "3", "5", "8", ":", "=", "?", "[", "]",              /* 119-128 */
    "a", "t", "x", "—", "“", "”", "…", "我", "爱", "北",           /* 129-138 */
    "ᄒ", "οδο", "##σ", "##ς", "the", "of", "art", "state", "hello", "world", /* 139-148 */
    "i", "love", "don", "creme", "bru", "##lee", "cafe", "naive", "ecole", "istanbul", /* 149-158 */
    "un", "runn", "run", "mask", "##4", "##x", "##aff", "##able", "##ing", "##n", /* 159-168 */
    "##s", "##ᅡ", "##ᆫ", "##ᄀ", "##ᅮ", "##ᆨ", "angstrom", "dog", "##gy", "foobar", /* 169-178 */
    "foo", "bar",                                                  /* 179-180 */
};
#define N_TEST_WORDS ((int)(sizeof test_words / sizeof test_words[0]))

/* Writes the test vocabulary once per run and returns its path. */
static const char *test_vocab_path(void) {
    static char path[512];
    if (path[0]) return path;
    test_tmp_path(path, sizeof path, "bert_like_vocab.txt");
    FILE *f = fopen(path, "w");
    CHECK(f, "cannot write %s", path);
    fprintf(f, "[PAD]\n");
    for (int k = 0; k < 99; k++) fprintf(f, "[unused%d]\n", k);
    fprintf(f, "[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
    for (int k = 99; k < 104; k++) fprintf(f, "[unused%d]\n", k);
    for (int k = 0; k < N_TEST_WORDS; k++) fprintf(f, "%s\n", test_words[k]);
    fclose(f);
    return path;
}

/* Each test loads its own copy and frees it at its end (an assertion that
 * fails returns early and leaks it, which only a failing run sees). */
static Tokenizer *test_tokenizer(void) { return tokenizer_load(test_vocab_path()); }

/* The pieces of text joined with single spaces. */
static void pieces(const Tokenizer *tok, const char *text, char *out, size_t cap) {
    int32_t ids[256];
    int64_t n = tokenizer_tokenize(tok, text, ids, 256);
    CHECK(n <= 256, "test text too long");
    out[0] = '\0';
    size_t len = 0;
    for (int64_t k = 0; k < n; k++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", k ? " " : "", tokenizer_token(tok, ids[k]));
}

TEST(test_tokenizer_vocab_layout_like_bert_base) {
    Tokenizer *tok = test_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    ASSERT_EQ_INT(tokenizer_vocab_size(tok), FIRST_WORD_ID + N_TEST_WORDS);
    TokenizerSpecial sp = tokenizer_special(tok);
    ASSERT_EQ_INT(sp.pad, 0);
    ASSERT_EQ_INT(sp.unk, 100);
    ASSERT_EQ_INT(sp.cls, 101);
    ASSERT_EQ_INT(sp.sep, 102);
    ASSERT_EQ_INT(sp.mask, 103);
    ASSERT_EQ_INT(tokenizer_token_id(tok, "[unused0]"), 1);
    ASSERT_EQ_INT(tokenizer_token_id(tok, "hello"), 147);
    ASSERT_EQ_INT(tokenizer_token_id(tok, "##ing"), 167);
    ASSERT_EQ_INT(tokenizer_token_id(tok, "ing"), -1);
    ASSERT(strcmp(tokenizer_token(tok, 136), "我") == 0);
    ASSERT(tokenizer_token(tok, -1) == NULL && tokenizer_token(tok, 100000) == NULL);
    tokenizer_free(tok);
}

TEST(test_tokenizer_tricky_strings_match_hf) {
    Tokenizer *tok = test_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"Hello, World!", "hello , world !"},
        /* Accents: lower-case, NFD, drop Mn; then longest-match pieces. */
        {"Crème brûlée", "creme bru ##lee"},
        {"ÉCOLE naïve CAFÉ", "ecole naive cafe"},
        {"cafe\xcc\x81", "cafe"},                 /* decomposed e + U+0301 */
        {"Ångström", "angstrom"},
        {"İstanbul", "istanbul"},                 /* lower() gives i + U+0307, which is Mn */
        /* Greek: HF lowers character by character, so a capital sigma never
         * becomes final sigma; a literal final sigma stays one. */
        {"ΟΔΟΣ", "οδο ##σ"},
        {"οδος", "οδο ##ς"},
        /* CJK ideographs are words of their own; 京 is not in the vocabulary. */
        {"我爱北京", "我 爱 北 [UNK]"},
        /* Hangul syllables decompose (NFD) into jamo, which are letters (Lo). */
        {"한국", "ᄒ ##ᅡ ##ᆫ ##ᄀ ##ᅮ ##ᆨ"},
        /* Full-width letters: NFD is not NFKD, they stay full-width. */
        {"ＡＢＣ", "[UNK]"},
        /* Emoji (So) is not punctuation: a word of its own only thanks to '!'. */
        {"I love 🍕!", "i love [UNK] !"},
        {"I love🍕", "i [UNK]"},
        /* Punctuation: every ASCII non-alphanumeric and every P* character. */
        {"3.14", "3 . 1 ##4"},
        {"state-of-the-art", "state - of - the - art"},
        {"don't", "don ' t"},
        {"$5+3=8", "$ 5 + 3 = 8"},
        {"“Quoted”—dash…", "“ [UNK] ” — [UNK] …"},
        /* Whitespace: runs, tabs, newlines, no-break and ideographic spaces,
         * and U+2028 (not Zs, but Python's str.split() splits on it). */
        {"  hello \t\n  world  ", "hello world"},
        {"hello\r\nworld", "hello world"},
        {"foo\xc2\xa0" "bar", "foo bar"},
        {"foo\xe3\x80\x80" "bar", "foo bar"},
        {"foo\xe2\x80\xa8" "bar", "foo bar"},
        /* Control and format characters are deleted without splitting the word. */
        {"hel\x01lo wor\xc2\xadld", "hello world"},
        {"foo\xe2\x80\x8b" "bar", "foobar"},      /* U+200B zero-width space is Cf */
        {"foo\x7f" "bar\xef\xbf\xbd", "foobar"},  /* DEL, U+FFFD */
        {"foo\xff" "bar", "foobar"},              /* malformed UTF-8 decodes as U+FFFD */
        /* WordPiece: greedy longest match first; one unmatched rest -> [UNK]. */
        {"unaffable", "un ##aff ##able"},
        {"running", "runn ##ing"},
        {"runs dogs doggy", "run ##s dog ##s dog ##gy"},
        {"xq", "[UNK]"},
        /* Special tokens written exactly are kept whole, even inside words. */
        {"hello [MASK] world", "hello [MASK] world"},
        {"hello[SEP]world", "hello [SEP] world"},
        {"[mask]", "[ mask ]"},
        {"[MASK].", "[MASK] ."},
        {"", ""},
        {" \t\n", ""},
    };
    char got[4096];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        pieces(tok, cases[k].text, got, sizeof got);
        ASSERT_MSG(strcmp(got, cases[k].want) == 0, "case %zu \"%s\": got \"%s\", want \"%s\"", k,
                   cases[k].text, got, cases[k].want);
    }
    /* The same through ids. */
    int32_t ids[16];
    ASSERT_EQ_INT(tokenizer_tokenize(tok, "Hello, World!", ids, 16), 4);
    int32_t want1[] = {147, 116, 148, 109};
    for (int k = 0; k < 4; k++) ASSERT_EQ_INT(ids[k], want1[k]);
    ASSERT_EQ_INT(tokenizer_tokenize(tok, "state-of-the-art", ids, 16), 7);
    int32_t want2[] = {146, 117, 144, 117, 143, 117, 145};
    for (int k = 0; k < 7; k++) ASSERT_EQ_INT(ids[k], want2[k]);
    ASSERT_EQ_INT(tokenizer_tokenize(tok, "don't [MASK] 我爱京", ids, 16), 7);
    int32_t want3[] = {151, 112, 130, 103, 136, 137, 100};
    for (int k = 0; k < 7; k++) ASSERT_EQ_INT(ids[k], want3[k]);
    /* cap smaller than the count: only cap ids are written, the count is full. */
    ids[2] = -7;
    ASSERT_EQ_INT(tokenizer_tokenize(tok, "don't [MASK] 我爱京", ids, 2), 7);
    ASSERT_EQ_INT(ids[2], -7);
    tokenizer_free(tok);
}

TEST(test_tokenizer_word_length_limit_is_100_characters) {
    Tokenizer *tok = test_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    static char text[1024];
    int32_t ids[256];
    /* 100 characters: cut into pieces. */
    memset(text, 'x', 100);
    text[100] = '\0';
    ASSERT_EQ_INT(tokenizer_tokenize(tok, text, ids, 256), 100);
    ASSERT_EQ_INT(ids[0], 131);
    for (int k = 1; k < 100; k++) ASSERT_EQ_INT(ids[k], 164);
    /* 101 characters: the whole word is one [UNK]. */
    strcpy(text + 100, "x and");
    ASSERT_EQ_INT(tokenizer_tokenize(tok, text, ids, 256), 2);
    ASSERT_EQ_INT(ids[0], 100);
    ASSERT_EQ_INT(ids[1], 100); /* "and" is not in the vocabulary */
    /* The limit counts characters after accent stripping (HF applies it in
     * the WordPiece stage): 60 x each followed by U+0301 are 60 characters. */
    size_t len = 0;
    for (int k = 0; k < 60; k++) len += (size_t)sprintf(text + len, "x\xcc\x81");
    ASSERT_EQ_INT(tokenizer_tokenize(tok, text, ids, 256), 60);
    ASSERT_EQ_INT(ids[59], 164);
    /* Code points, not bytes: 51 two-byte characters are 102 bytes but fine. */
    len = 0;
    for (int k = 0; k < 51; k++) len += (size_t)sprintf(text + len, "\xcf\x83"); /* σ */
    ASSERT_EQ_INT(tokenizer_tokenize(tok, text, ids, 256), 1);
    ASSERT_EQ_INT(ids[0], 100); /* no piece "σ" at word start: [UNK], but one word */
    tokenizer_free(tok);
}

TEST(test_tokenizer_encode_truncates_pads_and_masks) {
    Tokenizer *tok = test_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    int32_t ids[16], mask[16];
    ASSERT_EQ_INT(tokenizer_encode(tok, "Hello world", 8, ids, mask), 4);
    int32_t want_ids[8] = {101, 147, 148, 102, 0, 0, 0, 0}, want_mask[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    for (int k = 0; k < 8; k++) ASSERT_EQ_INT(ids[k], want_ids[k]);
    for (int k = 0; k < 8; k++) ASSERT_EQ_INT(mask[k], want_mask[k]);
    /* Truncation keeps the first max_len - 2 pieces and [SEP] last. */
    ASSERT_EQ_INT(tokenizer_encode(tok, "state-of-the-art", 5, ids, mask), 5);
    int32_t want_t[5] = {101, 146, 117, 144, 102};
    for (int k = 0; k < 5; k++) ASSERT_EQ_INT(ids[k], want_t[k]);
    for (int k = 0; k < 5; k++) ASSERT_EQ_INT(mask[k], 1);
    /* Exactly full: no truncation, no pad. */
    ASSERT_EQ_INT(tokenizer_encode(tok, "state-of-the-art", 9, ids, NULL), 9);
    ASSERT_EQ_INT(ids[7], 145);
    ASSERT_EQ_INT(ids[8], 102);
    /* Empty text and the smallest max_len. */
    ASSERT_EQ_INT(tokenizer_encode(tok, "", 3, ids, mask), 2);
    ASSERT(ids[0] == 101 && ids[1] == 102 && ids[2] == 0 && mask[1] == 1 && mask[2] == 0);
    ASSERT_EQ_INT(tokenizer_encode(tok, "hello", 2, ids, mask), 2);
    ASSERT(ids[0] == 101 && ids[1] == 102);
    tokenizer_free(tok);
}

TEST(test_tokenizer_encode_batch_rows_and_longest) {
    Tokenizer *tok = test_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    const char *texts[] = {"hello world", "Crème brûlée", "", "state-of-the-art"};
    int32_t ids[4 * 6], mask[4 * 6];
    ASSERT_EQ_INT(tokenizer_encode_batch(tok, texts, 4, 6, ids, mask), 6);
    int32_t want[4 * 6] = {101, 147, 148, 102, 0,   0,   101, 152, 153, 154, 102, 0,
                           101, 102, 0,   0,   0,   0,   101, 146, 117, 144, 117, 102};
    for (int k = 0; k < 24; k++) ASSERT_EQ_INT(ids[k], want[k]);
    for (int k = 0; k < 24; k++) ASSERT_EQ_INT(mask[k], want[k] != 0);
    ASSERT_EQ_INT(tokenizer_encode_batch(tok, texts, 3, 6, ids, mask), 5);
    /* A large batch takes the parallel path and must equal one-by-one encoding. */
    enum { N = 3000, L = 16 };
    const char *pool[] = {"Hello, World!", "I love 🍕!", "unaffable state-of-the-art", "我爱北京", ""};
    const char **many = malloc(N * sizeof *many);
    int32_t *bi = malloc(N * L * sizeof *bi), *bm = malloc(N * L * sizeof *bm);
    for (int i = 0; i < N; i++) many[i] = pool[(i * 7) % 5];
    int longest = tokenizer_encode_batch(tok, many, N, L, bi, bm);
    int bad = -1;
    for (int i = 0; i < N && bad < 0; i++) {
        int32_t one[L], onem[L];
        tokenizer_encode(tok, many[i], L, one, onem);
        if (memcmp(one, bi + i * L, sizeof one) || memcmp(onem, bm + i * L, sizeof onem)) bad = i;
    }
    free(many);
    free(bi);
    free(bm);
    tokenizer_free(tok);
    ASSERT_EQ_INT(bad, -1);
    ASSERT_EQ_INT(longest, 12); /* "unaffable state-of-the-art": 10 pieces + [CLS] + [SEP] */
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

TEST(test_tokenizer_load_reports_bad_vocab_files) {
    char path[512];
    test_tmp_path(path, sizeof path, "no_such_vocab.txt");
    ASSERT(tokenizer_load(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "no_such_vocab.txt");

    test_tmp_path(path, sizeof path, "empty_vocab.txt");
    ASSERT(write_file(path, "") == 0);
    ASSERT(tokenizer_load(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "empty_vocab.txt: empty vocabulary file");

    test_tmp_path(path, sizeof path, "dup_vocab.txt");
    ASSERT(write_file(path, "[PAD]\n[UNK]\nhello\n[CLS]\nhello\n[SEP]\n") == 0);
    ASSERT(tokenizer_load(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "dup_vocab.txt: line 5: duplicate token \"hello\" (first on line 3)");

    test_tmp_path(path, sizeof path, "blank_vocab.txt");
    ASSERT(write_file(path, "[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n") == 0);
    ASSERT(tokenizer_load(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "blank_vocab.txt: line 3: empty token");

    test_tmp_path(path, sizeof path, "utf8_vocab.txt");
    ASSERT(write_file(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nbad\xff\n") == 0);
    ASSERT(tokenizer_load(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "utf8_vocab.txt: line 5: invalid UTF-8");

    test_tmp_path(path, sizeof path, "nocls_vocab.txt");
    ASSERT(write_file(path, "[PAD]\n[UNK]\n[SEP]\nhello\n") == 0);
    ASSERT(tokenizer_load(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "nocls_vocab.txt: [CLS]: special token missing");

    /* CRLF line ends and no final newline load fine; [MASK] is optional. */
    test_tmp_path(path, sizeof path, "crlf_vocab.txt");
    ASSERT(write_file(path, "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s") == 0);
    Tokenizer *tok = tokenizer_load(path);
    ASSERT_MSG(tok != NULL, "%s", error_message());
    int32_t ids[4];
    int n = tokenizer_encode(tok, "Hellos [MASK]", 4, ids, NULL);
    TokenizerSpecial sp = tokenizer_special(tok);
    int vocab_size = tokenizer_vocab_size(tok);
    tokenizer_free(tok);
    ASSERT_EQ_INT(vocab_size, 6);
    ASSERT_EQ_INT(sp.mask, -1);
    ASSERT_EQ_INT(n, 4);
    ASSERT(ids[0] == 2 && ids[1] == 4 && ids[2] == 5 && ids[3] == 3);
}

TEST(test_unicode_tables_classes_and_fold) {
    ASSERT(uni_is_punct('$') && uni_is_punct('`') && uni_is_punct(0xBF) && uni_is_punct(0x2014));
    ASSERT(!uni_is_punct('a') && !uni_is_punct(0x1F355) && !uni_is_punct(0xA8));
    ASSERT(uni_is_control(0x200B) && uni_is_control(0xE000) && uni_is_control(0x378));
    ASSERT(!uni_is_control('\t') && !uni_is_control(0x2028) && !uni_is_control('a'));
    ASSERT(uni_is_whitespace(0xA0) && uni_is_whitespace(0x3000) && !uni_is_whitespace(0x2028));
    ASSERT(uni_is_py_space(0x2028) && uni_is_py_space(0x1F) && !uni_is_py_space(0x200B));
    ASSERT(uni_is_cjk(0x4E00) && uni_is_cjk(0xF900) && !uni_is_cjk(0x3042));
    uint32_t out[UNI_FOLD_MAX];
    ASSERT_EQ_INT(uni_fold(0x1C4, out), 1); /* Ǆ -> ǆ: a compatibility decomposition only */
    ASSERT_EQ_INT(out[0], 0x1C6);
    ASSERT_EQ_INT(uni_fold(0x1E08, out), 1); /* Ḉ -> ḉ -> c + cedilla + acute -> c */
    ASSERT_EQ_INT(out[0], 'c');
    ASSERT_EQ_INT(uni_fold(0x1F8F, out), 1); /* ᾏ -> ᾇ -> α + three marks -> α */
    ASSERT_EQ_INT(out[0], 0x3B1);
    ASSERT_EQ_INT(uni_fold(0x130, out), 1); /* İ -> i + U+0307 -> i */
    ASSERT_EQ_INT(out[0], 'i');
    ASSERT_EQ_INT(uni_fold(0x301, out), 0);
    ASSERT_EQ_INT(uni_fold(0xF900, out), 1); /* CJK compatibility ideograph -> U+8C48 */
    ASSERT_EQ_INT(out[0], 0x8C48);
    ASSERT_EQ_INT(uni_fold(0x1E9E, out), 1); /* capital sharp s -> ß, no decomposition */
    ASSERT_EQ_INT(out[0], 0xDF);
    uint32_t low[2];
    ASSERT_EQ_INT(uni_lower(0x130, low), 2);
    ASSERT(low[0] == 'i' && low[1] == 0x307);
    ASSERT_EQ_INT(uni_lower(0xC9, low), 1);
    ASSERT_EQ_INT(low[0], 0xE9);
    ASSERT_EQ_INT(uni_case_class('.'), UNI_CASE_IGNORABLE);
    ASSERT_EQ_INT(uni_case_class(0x3A3), UNI_CASE_CASED);
    ASSERT_EQ_INT(uni_case_class(' '), UNI_CASE_OTHER);
}
