/* Learning a WordPiece vocabulary from a corpus, for the synthetic worlds and
 * for users without a vocab.txt. The result loads with tokenizer_load()
 * (data/tokenizer.h) and tokenizes every word of the corpus (up to 100
 * characters) without [UNK].
 *
 * Algorithm: BPE-style merge learning (Sennrich et al. 2016) on WordPiece
 * symbols, the approach of Hugging Face's WordPieceTrainer:
 *  1. Words come from the same basic tokenizer as encoding
 *     (data/tokenizer_basic.h), with their corpus frequencies; special tokens
 *     and words over 100 characters are left out.
 *  2. Layout: [PAD] [UNK] [CLS] [SEP] [MASK] as ids 0-4 (our small vocabularies
 *     have no [unusedN] rows, so the ids differ from bert-base-uncased's
 *     0/100/101/102/103; the tokenizer looks them up by name); then every
 *     character seen, in code-point order; then the same characters as "##"
 *     continuation pieces; then the learned pieces in the order learned.
 *  3. Each word starts as its characters (the first plain, the others "##").
 *     Repeatedly the adjacent symbol pair with the highest corpus frequency
 *     is merged everywhere (ties: the lexicographically smallest merged
 *     string, then the smallest left symbol, by UTF-8 bytes), and the merged
 *     piece joins the vocabulary if new, until vocab_size tokens or no pair
 *     is left (then the file is shorter than vocab_size).
 * Deterministic: the same texts give the same file, byte for byte. */
#ifndef DATA_WORDPIECE_BUILD_H
#define DATA_WORDPIECE_BUILD_H

#include <stdint.h>

/* Writes the vocabulary to out_path atomically. -1 with error_set when the
 * corpus has no word, when vocab_size cannot hold the special tokens and both
 * forms of every character seen, or when the file cannot be written. */
int wordpiece_build_vocab(const char *const *texts, int64_t n_texts, int vocab_size,
                          const char *out_path);

#endif
