/* bin/tokenize: BERT WordPiece tokenisation of stdin, one text per line
 * (spec/albef_blip.md §2.1), and the vocabulary builder.
 *
 *   bin/tokenize --vocab vocab.txt [--max-len N] [--tokens] [--pre-caption lavis]
 *       prints per input line the ids "[CLS] ... [SEP]" separated by spaces
 *       (or the pieces with --tokens); --max-len N truncates (keeping [SEP]
 *       last) and pads with [PAD] to N, as the models see the text.
 *   bin/tokenize vocab build --corpus corpus.txt --size N --out vocab.txt
 *       learns a WordPiece vocabulary from the corpus lines (data/wordpiece_build.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/error.h"
#include "core/fileio.h"
#include "data/caption.h"
#include "data/tokenizer.h"
#include "data/wordpiece_build.h"

static const char *vocab_path, *pre, *corpus_path, *out_path;
static int max_len, tokens, max_words, size;

static const CliFlag encode_flags[] = {
    CLI_FLAG_STRING("vocab", &vocab_path, NULL, "vocab.txt, one token per line (required)"),
    CLI_FLAG_INT("max-len", &max_len, "0",
                 "truncate to N ids keeping [SEP] last, pad with [PAD] to N (0: neither)"),
    CLI_FLAG_BOOL("tokens", &tokens, "false", "print the word pieces instead of the ids"),
    CLI_FLAG_CHOICE("pre-caption", &pre, "none", "none|lavis|orig-albef",
                    "clean each line with pre_caption first (spec §6.4)"),
    CLI_FLAG_INT("max-words", &max_words, "50", "pre_caption word cap (LAVIS 50, original repos 30)"),
};
static const CliSpec encode_spec = {
    "tokenize", "Reads lines on stdin and prints, per line, the ids with [CLS]/[SEP] (or the pieces).",
    encode_flags, CLI_COUNT(encode_flags)};

static const CliFlag build_flags[] = {
    CLI_FLAG_STRING("corpus", &corpus_path, NULL, "text file, one text per line (required)"),
    CLI_FLAG_INT("size", &size, "8000", "vocabulary size, special tokens included"),
    CLI_FLAG_STRING("out", &out_path, NULL, "vocab.txt to write (required)"),
};
static const CliSpec build_spec = {
    "tokenize vocab build", "Learns a WordPiece vocabulary from a corpus (data/wordpiece_build.h).",
    build_flags, CLI_COUNT(build_flags)};

static int vocab_build(int argc, char **argv) {
    int rc = cli_parse(&build_spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    if (!corpus_path || !out_path) fatal("command line: --corpus and --out are required (see --help)");
    size_t n_bytes;
    char *text = file_read_all(corpus_path, &n_bytes);
    if (!text) error_exit_if(-1);
    int64_t n = 0, cap = 1024;
    char **lines = malloc((size_t)cap * sizeof *lines);
    CHECK(lines, "out of memory");
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        if (n == cap) {
            lines = realloc(lines, (size_t)(cap *= 2) * sizeof *lines);
            CHECK(lines, "out of memory");
        }
        lines[n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    error_exit_if(wordpiece_build_vocab((const char *const *)lines, n, size, out_path));
    free(lines);
    free(text);
    return 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("modes:\n  tokenize --vocab FILE [flags] < lines\n"
                   "  tokenize vocab build --corpus FILE --size N --out FILE\n\n");
            cli_print_help(&encode_spec, stdout);
            printf("\n");
            cli_print_help(&build_spec, stdout);
            return 0;
        }
    }
    if (argc >= 3 && strcmp(argv[1], "vocab") == 0 && strcmp(argv[2], "build") == 0)
        return vocab_build(argc - 2, argv + 2);

    error_exit_if(cli_parse(&encode_spec, argc, argv));
    if (!vocab_path) fatal("command line: --vocab is required (see --help)");
    if (max_len != 0 && max_len < 2) fatal("command line: --max-len: %d leaves no room for [CLS] and [SEP]", max_len);
    if (max_words < 1) fatal("command line: --max-words: must be at least 1");
    Tokenizer *tok = tokenizer_load(vocab_path);
    if (!tok) error_exit_if(-1);
    TokenizerSpecial sp = tokenizer_special(tok);

    int64_t cap = max_len ? max_len : 256;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    CHECK(ids, "out of memory");
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    while ((got = getline(&line, &line_cap, stdin)) >= 0) {
        if (got > 0 && line[got - 1] == '\n') line[--got] = '\0';
        /* NUL bytes would end the C string early; the tokenizer deletes
         * U+0000 anyway (HF _clean_text), so drop them here. */
        ssize_t kept = 0;
        for (ssize_t k = 0; k < got; k++)
            if (line[k]) line[kept++] = line[k];
        line[kept] = '\0';
        char *clean = NULL;
        if (strcmp(pre, "none") != 0)
            clean = pre_caption(line, strcmp(pre, "lavis") == 0 ? CAPTION_LAVIS : CAPTION_ORIG_ALBEF,
                                max_words);
        const char *text = clean ? clean : line;
        int64_t n;
        if (max_len) {
            n = tokenizer_encode(tok, text, max_len, ids, NULL);
            n = max_len; /* the pads are printed too: this is what the model gets */
        } else {
            for (;;) {
                int64_t k = tokenizer_tokenize(tok, text, ids + 1, cap - 2);
                if (k + 2 <= cap) {
                    ids[0] = sp.cls;
                    ids[k + 1] = sp.sep;
                    n = k + 2;
                    break;
                }
                cap = k + 2;
                ids = realloc(ids, (size_t)cap * sizeof *ids);
                CHECK(ids, "out of memory");
            }
        }
        for (int64_t k = 0; k < n; k++) {
            if (k) putchar(' ');
            if (tokens)
                fputs(tokenizer_token(tok, ids[k]), stdout);
            else
                printf("%d", ids[k]);
        }
        putchar('\n');
        free(clean);
    }
    free(line);
    free(ids);
    tokenizer_free(tok);
    if (fflush(stdout) != 0 || ferror(stdout)) fatal("stdout: write failed: %s", strerror(errno ? errno : EIO));
    return 0;
}
