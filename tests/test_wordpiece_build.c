/* WordPiece vocabulary builder (data/wordpiece_build.h) and bin/tokenize. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/tokenizer.h"
#include "data/wordpiece_build.h"
#include "tests/test.h"

static const char *const corpus[] = {
    "A dog runs on the grass.",
    "Two dogs are running in the park!",
    "A man rides a red bike; the dog watches.",
    "Crème brûlée on a table, state-of-the-art.",
    "A woman is running with her dog.",
    "我爱北京",
    "The dogs run; the dogs play [MASK].",
};
#define N_CORPUS ((int64_t)(sizeof corpus / sizeof corpus[0]))

typedef struct {
    const Tokenizer *tok;
    int unk;
} UnkCheck;

TEST(test_wordpiece_build_layout_deterministic_and_no_unk) {
    char a[512], b[512];
    test_tmp_path(a, sizeof a, "wp_a.txt");
    test_tmp_path(b, sizeof b, "wp_b.txt");
    ASSERT_MSG(wordpiece_build_vocab(corpus, N_CORPUS, 120, a) == 0, "%s", error_message());
    ASSERT_MSG(wordpiece_build_vocab(corpus, N_CORPUS, 120, b) == 0, "%s", error_message());
    size_t na, nb;
    char *ta = file_read_all(a, &na), *tb = file_read_all(b, &nb);
    ASSERT(ta && tb);
    int same = na == nb && memcmp(ta, tb, na) == 0;
    /* Layout: specials 0-4, then sorted characters, then their ## forms. */
    int prefix_ok = strncmp(ta, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n!\n,\n-\n.\n;\n", 40) == 0;
    free(ta);
    free(tb);
    ASSERT(same);
    ASSERT(prefix_ok);

    Tokenizer *tok = tokenizer_load(a);
    ASSERT_MSG(tok != NULL, "%s", error_message());
    TokenizerSpecial sp = tokenizer_special(tok);
    ASSERT(sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 && sp.mask == 4);
    ASSERT_EQ_INT(tokenizer_vocab_size(tok), 120);
    /* The most frequent words became whole pieces; no corpus word is [UNK]. */
    int32_t ids[64];
    int64_t n = tokenizer_tokenize(tok, "the dog", ids, 64);
    int whole = n == 2 && strcmp(tokenizer_token(tok, ids[0]), "the") == 0 &&
                strcmp(tokenizer_token(tok, ids[1]), "dog") == 0;
    int unk = 0;
    for (int64_t i = 0; i < N_CORPUS; i++) {
        int64_t m = tokenizer_tokenize(tok, corpus[i], ids, 64);
        for (int64_t k = 0; k < m; k++) unk += ids[k] == sp.unk;
    }
    /* Unseen characters are still [UNK]. */
    n = tokenizer_tokenize(tok, "zebra", ids, 64);
    int zebra_unk = n == 1 && ids[0] == sp.unk;
    tokenizer_free(tok);
    ASSERT(whole);
    ASSERT_EQ_INT(unk, 0);
    ASSERT(zebra_unk);
}

TEST(test_wordpiece_build_small_size_and_empty_corpus_fail) {
    char path[512];
    test_tmp_path(path, sizeof path, "wp_small.txt");
    ASSERT(wordpiece_build_vocab(corpus, N_CORPUS, 20, path) == -1);
    ASSERT_STR_CONTAINS(error_message(), "vocab size 20: the corpus needs at least");
    ASSERT(!file_exists(path));
    const char *empty[] = {"", " \t ", "[MASK]"};
    ASSERT(wordpiece_build_vocab(empty, 3, 100, path) == -1);
    ASSERT_STR_CONTAINS(error_message(), "no words in 3 texts");
    /* Exactly the alphabet: no merge fits, still no [UNK] for corpus words. */
    const char *tiny[] = {"ab ba"};
    ASSERT_MSG(wordpiece_build_vocab(tiny, 1, 9, path) == 0, "%s", error_message());
    char *text = file_read_all(path, NULL);
    ASSERT(text);
    int ok = strcmp(text, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n##a\n##b\n") == 0;
    free(text);
    ASSERT(ok);
    /* One more slot: the most frequent pair, ties broken lexicographically:
     * (a,##b) and (b,##a) both occur once; "ab" < "ba". */
    ASSERT_MSG(wordpiece_build_vocab(tiny, 1, 10, path) == 0, "%s", error_message());
    text = file_read_all(path, NULL);
    ASSERT(text);
    ok = strcmp(text, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n##a\n##b\nab\n") == 0;
    free(text);
    ASSERT(ok);
}

/* Runs a shell command and returns its stdout (malloc'ed), NULL on failure. */
static char *run_capture(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

TEST(test_tokenize_program_ids_tokens_and_vocab_build) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char tool[512], corpus_path[512], vocab[512], in[512], cmd[4096];
    snprintf(tool, sizeof tool, "%s/tokenize", bin);
    if (!file_exists(tool)) {
        test_fail(__FILE__, __LINE__, "%s not built (make %s)", tool, tool);
        return;
    }
    test_tmp_path(corpus_path, sizeof corpus_path, "cli_corpus.txt");
    test_tmp_path(vocab, sizeof vocab, "cli_vocab.txt");
    test_tmp_path(in, sizeof in, "cli_in.txt");
    FILE *f = fopen(corpus_path, "w");
    ASSERT(f);
    fputs("the dog runs\nthe dogs run\nthe cat sits\n", f);
    fclose(f);
    f = fopen(in, "w");
    ASSERT(f);
    fputs("The dog.\nthe cats run fast\n", f);
    fclose(f);

    snprintf(cmd, sizeof cmd, "%s vocab build --corpus %s --size 40 --out %s", tool, corpus_path, vocab);
    char *out = run_capture(cmd);
    ASSERT_MSG(out != NULL, "%s failed", cmd);
    free(out);
    /* The vocabulary the program wrote is the one the library writes. */
    char lib_vocab[512];
    test_tmp_path(lib_vocab, sizeof lib_vocab, "cli_vocab_lib.txt");
    const char *texts[] = {"the dog runs", "the dogs run", "the cat sits"};
    ASSERT(wordpiece_build_vocab(texts, 3, 40, lib_vocab) == 0);
    char *v1 = file_read_all(vocab, NULL), *v2 = file_read_all(lib_vocab, NULL);
    int same = v1 && v2 && strcmp(v1, v2) == 0;
    free(v1);
    free(v2);
    ASSERT(same);

    Tokenizer *tok = tokenizer_load(vocab);
    ASSERT_MSG(tok != NULL, "%s", error_message());
    char want_ids[512], want_tok[512];
    int32_t ids[16];
    size_t len = 0, lent = 0;
    const char *lines[] = {"The dog.", "the cats run fast"};
    for (int l = 0; l < 2; l++) {
        int n = tokenizer_encode(tok, lines[l], 16, ids, NULL);
        for (int k = 0; k < n; k++) {
            len += (size_t)sprintf(want_ids + len, "%s%d", k ? " " : "", ids[k]);
            lent += (size_t)sprintf(want_tok + lent, "%s%s", k ? " " : "", tokenizer_token(tok, ids[k]));
        }
        want_ids[len++] = '\n';
        want_tok[lent++] = '\n';
    }
    want_ids[len] = want_tok[lent] = '\0';
    tokenizer_free(tok);
    /* Spot-check the pieces themselves: "." and "f" never occur in the corpus. */
    ASSERT(strcmp(want_tok, "[CLS] the dog [UNK] [SEP]\n[CLS] the c ##at ##s run [UNK] [SEP]\n") == 0);

    snprintf(cmd, sizeof cmd, "%s --vocab %s < %s", tool, vocab, in);
    out = run_capture(cmd);
    ASSERT_MSG(out != NULL, "%s failed", cmd);
    int ok = strcmp(out, want_ids) == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "ids: got \"%s\" want \"%s\"", out, want_ids);
    free(out);
    if (!ok) return;
    snprintf(cmd, sizeof cmd, "%s --vocab %s --tokens < %s", tool, vocab, in);
    out = run_capture(cmd);
    ASSERT_MSG(out != NULL, "%s failed", cmd);
    ok = strcmp(out, want_tok) == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "tokens: got \"%s\" want \"%s\"", out, want_tok);
    free(out);
    if (!ok) return;
    /* --max-len truncates and pads; ids of the specials from the built layout. */
    snprintf(cmd, sizeof cmd, "printf 'the dog\\nthe dog runs\\n' | %s --vocab %s --max-len 4 --tokens", tool, vocab);
    out = run_capture(cmd);
    ASSERT_MSG(out != NULL, "%s failed", cmd);
    ok = strcmp(out, "[CLS] the dog [SEP]\n[CLS] the dog [SEP]\n") == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "max-len: got \"%s\"", out);
    free(out);
    if (!ok) return;
    snprintf(cmd, sizeof cmd, "printf 'the\\n' | %s --vocab %s --max-len 5", tool, vocab);
    out = run_capture(cmd);
    ASSERT_MSG(out != NULL, "%s failed", cmd);
    char want_pad[64];
    int the_id = -1;
    tok = tokenizer_load(vocab);
    ASSERT(tok);
    the_id = tokenizer_token_id(tok, "the");
    tokenizer_free(tok);
    snprintf(want_pad, sizeof want_pad, "2 %d 3 0 0\n", the_id);
    ok = strcmp(out, want_pad) == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "pad: got \"%s\" want \"%s\"", out, want_pad);
    free(out);
    if (!ok) return;
    /* --help lists every flag with its default; a missing vocab is an error. */
    snprintf(cmd, sizeof cmd, "%s --help", tool);
    out = run_capture(cmd);
    ASSERT(out != NULL);
    const char *flags[] = {"--vocab", "--max-len", "tokens", "--pre-caption", "--max-words",
                           "--corpus", "--size", "--out", "8000", "50"};
    int missing = -1;
    for (int k = 0; k < 10; k++)
        if (!strstr(out, flags[k])) missing = k;
    free(out);
    ASSERT_MSG(missing < 0, "--help lacks %s", flags[missing]);
    snprintf(cmd, sizeof cmd, "%s --vocab %s/none.txt < /dev/null 2>/dev/null", tool, test_tmp_dir());
    out = run_capture(cmd);
    ASSERT(out == NULL);
}
