/* libFuzzer harness: a WordPiece vocab.txt (data/tokenizer.h) loaded, then
 * texts made of its own tokens encoded with it, so lookups hit the table. */
#include <stdlib.h>
#include <stdio.h>

#include "data/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Tokenizer *tok = tokenizer_load(fuzz_input_file(data, size, "vocab.txt", 0));
    if (!tok) return 0;
    int32_t n = tokenizer_vocab_size(tok);
    char text[512];
    size_t used = 0;
    for (int32_t id = 0; id < n && id < 16; id++) {
        const char *t = tokenizer_token(tok, id);
        if (!t) abort();
        if (tokenizer_token_id(tok, t) != id) abort(); /* the table maps every token back to its line */
        int w = snprintf(text + used, sizeof text - used, "%s%s", t, id % 3 ? " " : "");
        if (w < 0 || (size_t)w >= sizeof text - used) break;
        used += (size_t)w;
    }
    text[used] = '\0';
    int32_t ids[32], mask[32];
    int len = tokenizer_encode(tok, text, 32, ids, mask);
    if (len < 2 || len > 32) abort();
    tokenizer_free(tok);
    return 0;
}
