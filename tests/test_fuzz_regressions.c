/* The inputs the fuzzers (tests/fuzz/) found crashing or misreading, kept in
 * tests/fuzz/regressions/<harness>/ and replayed here through the same entry
 * point with the release build: each must now stop with its clear error. */
#include <stdlib.h>

#include "core/error.h"
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
