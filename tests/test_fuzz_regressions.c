/* The inputs the fuzzers (tests/fuzz/) found crashing or misreading, kept in
 * tests/fuzz/regressions/<harness>/ and replayed here through the same entry
 * point with the release build: each must now stop with its clear error. */
#include <stdlib.h>

#include "core/error.h"
#include "data/image.h"
#include "data/tokenizer.h"
#include "tests/test.h"

#define REGRESSIONS "tests/fuzz/regressions"

TEST(test_fuzz_vocab_token_with_nul_byte_is_refused) {
    /* a NUL inside a line made the token read as a shorter one ("i" twice) */
    Tokenizer *tok = tokenizer_load(REGRESSIONS "/vocab/nul_in_token");
    tokenizer_free(tok);
    ASSERT(tok == NULL);
    ASSERT_STR_CONTAINS(error_message(), "nul_in_token: line 16: contains a NUL byte");
}

TEST(test_fuzz_image_huge_claimed_size_is_refused_before_allocating) {
    /* 20000 x 20000 in the header of a few hundred bytes: 1.2 GB if trusted */
    const char *files[] = {REGRESSIONS "/image/png_huge_dims", REGRESSIONS "/image/jpeg_huge_dims"};
    for (int k = 0; k < 2; k++) {
        Image img;
        ASSERT(image_read(files[k], &img) == -1);
        ASSERT_STR_CONTAINS(error_message(), files[k]);
        ASSERT_STR_CONTAINS(error_message(), "image size 20000 x 20000 exceeds the limit of 178956970 pixels");
    }
}

TEST(test_fuzz_image_jpeg_scan_cut_short_by_a_marker_is_truncation) {
    /* 150 bytes whose header says 38949 x 235: libjpeg warned "premature end
     * of data segment" and returned 9 million grey pixels (15 s under the fuzzer) */
    Image img;
    ASSERT(image_read(REGRESSIONS "/image/jpeg_scan_cut_by_marker", &img) == -1);
    ASSERT_STR_CONTAINS(error_message(),
                        "jpeg_scan_cut_by_marker: truncated JPEG data (premature end of a data segment)");
}
