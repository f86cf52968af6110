/* Unicode character classes and folding with the exact semantics of Hugging
 * Face's BertTokenizer (uncased), which asks Python's unicodedata. The data
 * comes from scripts/gen_unicode_tables.py (Unicode version in
 * uni_tables_version); see spec/albef_blip.md §2.1 for where the tokenizer is
 * used. Also: a tolerant UTF-8 decoder and an encoder. */
#ifndef DATA_UNICODE_H
#define DATA_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Longest output of uni_fold (the generator asserts it). */
#define UNI_FOLD_MAX 4

extern const char uni_tables_version[];

/* HF _is_control: general category C* (Cc, Cf, Cn unassigned, Co, Cs), except
 * \t \n \r, which count as whitespace. Such characters are deleted. */
int uni_is_control(uint32_t cp);
/* HF _is_whitespace: space, \t, \n, \r or category Zs (become a plain space). */
int uni_is_whitespace(uint32_t cp);
/* Python str.isspace(): what HF's whitespace_tokenize (str.split()) splits on.
 * After cleaning this still adds U+2028/U+2029 to the separators. */
int uni_is_py_space(uint32_t cp);
/* HF _is_punctuation: ASCII 33-47, 58-64, 91-96, 123-126, or category P*. */
int uni_is_punct(uint32_t cp);
/* Category Mn (nonspacing marks, removed by accent stripping). */
int uni_is_mn(uint32_t cp);
/* HF _is_chinese_char: the CJK Unified/Compatibility Ideograph blocks. */
int uni_is_cjk(uint32_t cp);

/* The uncased normalisation of one character: Python str.lower() (without
 * context, as HF applies it character by character), then NFD, then removal
 * of Mn. Writes 0..UNI_FOLD_MAX code points to out and returns the count. */
int uni_fold(uint32_t cp, uint32_t out[UNI_FOLD_MAX]);

/* Python str.lower() of one code point without context: writes 1 or 2 code
 * points (U+0130 -> i + U+0307) and returns the count. U+03A3 gives U+03C3;
 * the Final_Sigma context is the caller's (uni_case_class). */
int uni_lower(uint32_t cp, uint32_t out[2]);

/* Classes for the Final_Sigma rule of str.lower(): U+03A3 lowers to final
 * sigma U+03C2 when preceded by CASED (skipping IGNORABLE) and not followed by
 * CASED (skipping IGNORABLE). */
enum { UNI_CASE_OTHER, UNI_CASE_IGNORABLE, UNI_CASE_CASED };
int uni_case_class(uint32_t cp);

/* Decodes one UTF-8 character at s[*pos] (n bytes in all) and advances *pos.
 * Malformed, overlong, surrogate or truncated sequences decode as U+FFFD
 * (one byte consumed), which the tokenizer then drops like HF drops U+FFFD. */
uint32_t utf8_decode(const char *s, size_t n, size_t *pos);
/* 1 when s[0..n) is well-formed UTF-8 (a literal U+FFFD counts as valid). */
int utf8_valid(const char *s, size_t n);
/* Writes cp as UTF-8 (1-4 bytes) and returns the byte count. */
int utf8_encode(uint32_t cp, char *out);

#endif
