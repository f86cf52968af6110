/* bin/bench_tokenizer: WordPiece tokenizer throughput on one core, for
 * ~30-word captions (the Flickr30K regime, spec/albef_blip.md §2.1):
 * tokenizer_encode to max_len 35 alone, and pre_caption + encode.
 * The vocabulary is learned from the generated captions (data/wordpiece_build.h)
 * at --vocab-size tokens, so words split into a realistic mix of pieces. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/clock.h"
#include "core/error.h"
#include "data/caption.h"
#include "data/tokenizer.h"
#include "data/wordpiece_build.h"

static const char *const words[] = {
    "a", "the", "man", "woman", "child", "dog", "cat", "is", "are", "running", "walking",
    "sitting", "standing", "on", "in", "near", "with", "red", "blue", "green", "shirt", "hat",
    "street", "park", "beach", "water", "ball", "bicycle", "riding", "playing", "two", "three",
    "people", "group", "young", "old", "wearing", "black", "white", "jacket", "holding",
    "looking", "at", "camera", "while", "another", "crowd", "watches", "performer", "stage",
    "guitar", "singing", "snow", "mountain", "climbing", "rock", "jumps", "over", "fence",
    "brown", "grass", "field", "tree", "building", "city", "night", "lights", "car", "bus",
    "waiting", "station", "café", "restaurant", "eating", "food", "table", "outdoor", "market",
    "vendor", "selling", "fruit", "vegetables", "colorful", "umbrella", "rain", "sunny", "day",
    "skateboarder", "performs", "trick", "ramp", "soccer", "players", "compete", "match",
    "state-of-the-art", "don't", "it's", "3.5", "o'clock", "well-dressed", "passersby",
};
#define N_WORDS ((uint64_t)(sizeof words / sizeof words[0]))

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

int main(int argc, char **argv) {
    int n, vocab_size, reps, max_len;
    CliFlag flags[] = {
        CLI_FLAG_INT("captions", &n, "20000", "distinct generated captions"),
        CLI_FLAG_INT("words", &reps, "30", "words per caption"),
        CLI_FLAG_INT("vocab-size", &vocab_size, "2000", "learned vocabulary size"),
        CLI_FLAG_INT("max-len", &max_len, "35", "encode length (ALBEF/BLIP retrieval eval)"),
    };
    CliSpec spec = {"bench_tokenizer", "Tokenizer throughput on one core (captions/s).", flags,
                    CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);

    char **caps = malloc((size_t)n * sizeof *caps);
    uint64_t s = 42;
    size_t total_bytes = 0;
    for (int i = 0; i < n; i++) {
        char buf[4096];
        size_t len = 0;
        for (int w = 0; w < reps; w++) {
            const char *word = words[rng_next(&s) % N_WORDS];
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", w ? " " : "", word);
            if (w == 0) buf[0] = (char)(buf[0] >= 'a' && buf[0] <= 'z' ? buf[0] - 32 : buf[0]);
            if (rng_next(&s) % 10 == 0) len += (size_t)snprintf(buf + len, sizeof buf - len, ",");
        }
        snprintf(buf + len, sizeof buf - len, ".");
        caps[i] = strdup(buf);
        total_bytes += strlen(buf);
    }
    char vocab[] = "/tmp/bench_tokenizer_vocab_XXXXXX";
    int fd = mkstemp(vocab);
    if (fd < 0) fatal("mkstemp failed");
    error_exit_if(wordpiece_build_vocab((const char *const *)caps, n, vocab_size, vocab));
    Tokenizer *tok = tokenizer_load(vocab);
    if (!tok) error_exit_if(-1);
    remove(vocab);

    int32_t *ids = malloc((size_t)max_len * sizeof *ids), *mask = malloc((size_t)max_len * sizeof *mask);
    int64_t pieces = 0;
    for (int i = 0; i < n; i++) pieces += tokenizer_tokenize(tok, caps[i], ids, 0);
    /* Warm-up, then the best of 3 timed passes over all captions. */
    double best_enc = 1e30, best_pre = 1e30;
    int64_t check = 0;
    for (int pass = 0; pass < 4; pass++) {
        double t0 = clock_seconds();
        for (int i = 0; i < n; i++) check += tokenizer_encode(tok, caps[i], max_len, ids, mask);
        double t1 = clock_seconds();
        for (int i = 0; i < n; i++) {
            char *c = pre_caption(caps[i], CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS);
            check += tokenizer_encode(tok, c, max_len, ids, mask);
            free(c);
        }
        double t2 = clock_seconds();
        if (pass > 0) {
            if (t1 - t0 < best_enc) best_enc = t1 - t0;
            if (t2 - t1 < best_pre) best_pre = t2 - t1;
        }
    }
    printf("captions %d, %d words each, %.1f bytes and %.1f word pieces on average, vocab %d, max_len %d\n",
           n, reps, (double)total_bytes / n, (double)pieces / n, tokenizer_vocab_size(tok), max_len);
    printf("encode:               %10.0f captions/s  (%.2f us/caption, %.1f MB/s)\n", n / best_enc,
           1e6 * best_enc / n, total_bytes / best_enc / 1e6);
    printf("pre_caption + encode: %10.0f captions/s  (%.2f us/caption)\n", n / best_pre,
           1e6 * best_pre / n);
    printf("(checksum %lld)\n", (long long)check);
    for (int i = 0; i < n; i++) free(caps[i]);
    free(caps);
    free(ids);
    free(mask);
    tokenizer_free(tok);
    return 0;
}
