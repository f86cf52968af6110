/* libFuzzer harness: the LAVIS annotation readers (Flickr30K train and
 * val/test, SNLI-VE, NLVR2), the last byte choosing which one reads the rest
 * (image files are not checked: the image decoder has its own harness). */
#include "data/flickr30k.h"
#include "data/nlvr2.h"
#include "data/snli_ve.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fuzz_input_file(data, size - 1, "ann.json", 0);
    switch (data[size - 1] % 4) {
    case 0:
    case 1: {
        Flickr30kSplit s;
        if (flickr30k_read(path, data[size - 1] % 4 ? FLICKR30K_EVAL : FLICKR30K_TRAIN, "images", 0, &s) == 0)
            flickr30k_free(&s);
        break;
    }
    case 2: {
        SnliVeSplit s;
        if (snli_ve_read(path, "images", 0, &s) == 0) snli_ve_free(&s);
        break;
    }
    default: {
        Nlvr2Split s;
        if (nlvr2_read(path, "images", 0, &s) == 0) nlvr2_free(&s);
        break;
    }
    }
    return 0;
}
