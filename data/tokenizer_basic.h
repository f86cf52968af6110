/* The vocabulary-free half of BERT tokenisation ("BasicTokenizer" in Hugging
 * Face's BertTokenizer, uncased; spec/albef_blip.md §2.1): it turns a UTF-8
 * text into words, which the WordPiece stage (data/tokenizer.c) then splits
 * into vocabulary pieces. The vocabulary builder (data/wordpiece_build.c) uses
 * the same words, so the pieces it learns are the ones the tokenizer looks up.
 *
 * Steps, in Hugging Face's order:
 *  1. The special tokens [PAD] [UNK] [CLS] [SEP] [MASK], written exactly so in
 *     the raw text, are cut out first and kept whole (HF's added-token split;
 *     "[mask]" in lower case is ordinary text).
 *  2. Cleaning: NUL, U+FFFD and every category C* character except \t \n \r
 *     are deleted (without splitting the word); whitespace (space, \t, \n, \r,
 *     Zs) separates words, as do U+2028/U+2029 (Python's str.split()).
 *  3. Every CJK ideograph is a word of its own.
 *  4. Each character is lower-cased, NFD-decomposed and stripped of Mn marks
 *     (data/unicode.h uni_fold).
 *  5. Every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, P*) is
 *     a word of its own.
 * Folding character by character equals HF's string-level NFD except for
 * canonical reordering among the 25 combining marks that are not Mn (Mc
 * viramas of a few Indonesian/Philippine scripts, Hangul tone marks, musical
 * stems), which survive accent stripping: two of them adjacent out of
 * canonical order keep their order here. No caption contains them.
 * Malformed UTF-8 bytes decode to U+FFFD and are therefore dropped. */
#ifndef DATA_TOKENIZER_BASIC_H
#define DATA_TOKENIZER_BASIC_H

#include <stddef.h>

/* HF WordpieceTokenizer max_input_chars_per_word: longer words become [UNK]. */
#define TOKENIZER_MAX_WORD_CHARS 100

enum { TOK_SPECIAL_PAD, TOK_SPECIAL_UNK, TOK_SPECIAL_CLS, TOK_SPECIAL_SEP, TOK_SPECIAL_MASK,
       TOK_SPECIAL_COUNT };
/* "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" (BertTokenizer's defaults). */
extern const char *const tokenizer_special_names[TOK_SPECIAL_COUNT];

typedef struct {
    /* UTF-8 of the normalised word (not NUL-terminated); NULL when the word
     * has more than TOKENIZER_MAX_WORD_CHARS characters (it becomes [UNK]). */
    const char *bytes;
    int nbytes;
    /* Characters (code points); TOKENIZER_MAX_WORD_CHARS + 1 for long words. */
    int nchars;
    /* Byte offset of character k in bytes, for k = 0..nchars (when bytes). */
    const int *char_off;
    /* TOK_SPECIAL_* when the word is a special token cut out in step 1, else -1. */
    int special;
} BasicWord;

typedef void (*BasicWordFn)(void *ctx, const BasicWord *word);

/* Calls fn once per word of text[0..len), in order. Allocates nothing. */
void bert_basic_tokenize(const char *text, size_t len, BasicWordFn fn, void *ctx);

#endif
