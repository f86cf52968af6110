/* libFuzzer harness: caption text (any bytes an annotation file can carry)
 * cleaned by pre_caption in both styles and encoded with a fixed vocabulary,
 * the path every caption takes to the model (data/caption.h, data/tokenizer.h).
 * The vocabulary is FUZZ_VOCAB (set by `make fuzz`), loaded once. */
#include <stdlib.h>
#include <string.h>

#include "data/caption.h"
#include "data/tokenizer.h"

static Tokenizer *vocab(void) {
    static Tokenizer *tok;
    if (!tok) {
        const char *path = getenv("FUZZ_VOCAB");
        tok = path ? tokenizer_load(path) : NULL;
        if (!tok) abort(); /* the harness needs its vocabulary */
    }
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    for (int style = 0; style < 2; style++) {
        char *clean = pre_caption(text, style ? CAPTION_ORIG_ALBEF : CAPTION_LAVIS, 1 + (int)(size % 50));
        int32_t ids[40], mask[40];
        int len = tokenizer_encode(vocab(), clean, 40, ids, mask);
        if (len < 2 || len > 40) abort();
        free(clean);
    }
    int32_t raw[64];
    (void)tokenizer_tokenize(vocab(), text, raw, 64);
    free(text);
    return 0;
}
