/* Declarations of the generated tables in data/unicode_tables.c (written by
 * scripts/gen_unicode_tables.py from Python's unicodedata). Only data/unicode.c
 * reads them; everyone else uses data/unicode.h. Range tables are sorted,
 * disjoint, inclusive [lo, hi] pairs. */
#ifndef DATA_UNICODE_TABLES_H
#define DATA_UNICODE_TABLES_H

#include <stdint.h>

extern const char uni_tables_version[];
/* General category C* (Cc Cf Cn Co Cs) except \t \n \r. */
extern const uint32_t uni_control_ranges[][2];
extern const int uni_control_ranges_count;
/* General category Zs. */
extern const uint32_t uni_zs_ranges[][2];
extern const int uni_zs_ranges_count;
/* Python str.isspace(). */
extern const uint32_t uni_pyspace_ranges[][2];
extern const int uni_pyspace_ranges_count;
/* General category P*. */
extern const uint32_t uni_punct_ranges[][2];
extern const int uni_punct_ranges_count;
/* General category Mn. */
extern const uint32_t uni_mn_ranges[][2];
extern const int uni_mn_ranges_count;
/* Python str.lower() of one code point, where it is another single code point. */
extern const uint32_t uni_lower_map[][2];
extern const int uni_lower_map_count;
/* Case_Ignorable; Cased and not Case_Ignorable (the Final_Sigma classes). */
extern const uint32_t uni_case_ign_ranges[][2];
extern const int uni_case_ign_ranges_count;
extern const uint32_t uni_cased_ranges[][2];
extern const int uni_cased_ranges_count;
/* lower() -> NFD -> drop Mn, where not the identity (Mn and Hangul syllables excluded). */
extern const uint32_t uni_fold_keys[];
extern const uint16_t uni_fold_off[];
extern const uint8_t uni_fold_len[];
extern const uint32_t uni_fold_pool[];
extern const int uni_fold_count;

#endif
