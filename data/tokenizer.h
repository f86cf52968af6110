/* BERT WordPiece tokenizer, uncased, behaving like Hugging Face's
 * BertTokenizer(do_lower_case=True) on a standard vocab.txt
 * (spec/albef_blip.md §2.1). Text goes through the basic tokenizer
 * (data/tokenizer_basic.h: cleaning, CJK split, lower-casing, accent
 * stripping, punctuation split), then each word is cut greedily into the
 * longest vocabulary pieces from the left, continuation pieces carrying the
 * "##" prefix; a word longer than 100 characters, or one that cannot be cut,
 * is [UNK].
 *
 * Captions are cleaned by pre_caption (data/caption.h) before they get here.
 * A loaded Tokenizer is read-only: any number of threads may encode with it.
 * Encoding allocates nothing. */
#ifndef DATA_TOKENIZER_H
#define DATA_TOKENIZER_H

#include <stdint.h>

#include "data/tokenizer_basic.h"

typedef struct Tokenizer Tokenizer;

/* Ids of the special tokens; mask is -1 when the vocabulary has no [MASK]. */
typedef struct {
    int32_t pad, unk, cls, sep, mask;
} TokenizerSpecial;

/* Loads vocab.txt: one token per line, id = line number (0-based), "\n" or
 * "\r\n" line ends, an optional UTF-8 byte-order mark. [PAD], [UNK], [CLS] and
 * [SEP] must be present. NULL with error_set("<path>: line N: <reason>") for a
 * missing or empty file, an empty line, invalid UTF-8 or a duplicate token. */
Tokenizer *tokenizer_load(const char *vocab_path);
void tokenizer_free(Tokenizer *tok);

int32_t tokenizer_vocab_size(const Tokenizer *tok);
TokenizerSpecial tokenizer_special(const Tokenizer *tok);
/* Id of a token string ("##ing" for a continuation piece), -1 when absent. */
int32_t tokenizer_token_id(const Tokenizer *tok, const char *token);
/* Text of an id (NUL-terminated), NULL when out of range. */
const char *tokenizer_token(const Tokenizer *tok, int32_t id);

/* Word-piece ids of text, without [CLS]/[SEP]. Writes at most cap ids and
 * returns how many there are in all (like snprintf), so a caller can size. */
int64_t tokenizer_tokenize(const Tokenizer *tok, const char *text, int32_t *ids, int64_t cap);

/* HF encoding with truncation and max_length padding (§2.1): ids =
 * [CLS] p1 .. pk [SEP] [PAD]..., k = min(pieces, max_len - 2), mask 1 on
 * [CLS]..[SEP] and 0 on pads; both arrays have max_len entries (mask may be
 * NULL). Returns k + 2, the unpadded length. max_len >= 2. */
int tokenizer_encode(const Tokenizer *tok, const char *text, int max_len, int32_t *ids,
                     int32_t *mask);

/* tokenizer_encode for n texts into row-major [n, max_len] i32 arrays (in
 * parallel for large batches). Returns the longest unpadded length, so that
 * pad-to-longest batching (VE, NLVR2 in §2.1) can use the first columns:
 * pads are masked, so the extra columns change no result. */
int tokenizer_encode_batch(const Tokenizer *tok, const char *const *texts, int64_t n,
                           int max_len, int32_t *ids, int32_t *mask);

#endif
