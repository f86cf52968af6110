/* Lookups over the generated tables (data/unicode_tables.c). ASCII, which is
 * nearly all of the captions, is answered without a search. */
#include "data/unicode.h"

#include "data/unicode_tables.h"

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid - 1;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int uni_is_control(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return 0;
    if (cp < 0x80) return cp < 0x20 || cp == 0x7F;
    return in_ranges(uni_control_ranges, uni_control_ranges_count, cp);
}

int uni_is_whitespace(uint32_t cp) {
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return 1;
    if (cp < 0x80) return 0;
    return in_ranges(uni_zs_ranges, uni_zs_ranges_count, cp);
}

int uni_is_py_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return in_ranges(uni_pyspace_ranges, uni_pyspace_ranges_count, cp);
}

int uni_is_punct(uint32_t cp) {
    /* HF counts all non-alphanumeric ASCII as punctuation, including symbols
     * such as $ + < = > ^ ` | that are not category P. */
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return 1;
    if (cp < 0x80) return 0;
    return in_ranges(uni_punct_ranges, uni_punct_ranges_count, cp);
}

int uni_is_mn(uint32_t cp) {
    if (cp < 0x300) return 0;
    return in_ranges(uni_mn_ranges, uni_mn_ranges_count, cp);
}

int uni_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int uni_fold(uint32_t cp, uint32_t out[UNI_FOLD_MAX]) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    /* Hangul syllables: NFD is arithmetic (Unicode §3.12); the jamo are Lo. */
    if (cp >= 0xAC00 && cp < 0xAC00 + 11172) {
        uint32_t s = cp - 0xAC00;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    if (uni_is_mn(cp)) return 0;
    int lo = 0, hi = uni_fold_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < uni_fold_keys[mid])
            hi = mid - 1;
        else if (cp > uni_fold_keys[mid])
            lo = mid + 1;
        else {
            int n = uni_fold_len[mid];
            for (int k = 0; k < n; k++) out[k] = uni_fold_pool[uni_fold_off[mid] + k];
            return n;
        }
    }
    out[0] = cp;
    return 1;
}

int uni_lower(uint32_t cp, uint32_t out[2]) {
    if (cp < 0x80) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (cp == 0x130) { /* SpecialCasing: I WITH DOT ABOVE -> i + COMBINING DOT ABOVE */
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    int lo = 0, hi = uni_lower_map_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < uni_lower_map[mid][0])
            hi = mid - 1;
        else if (cp > uni_lower_map[mid][0])
            lo = mid + 1;
        else {
            out[0] = uni_lower_map[mid][1];
            return 1;
        }
    }
    out[0] = cp;
    return 1;
}

int uni_case_class(uint32_t cp) {
    if (in_ranges(uni_case_ign_ranges, uni_case_ign_ranges_count, cp)) return UNI_CASE_IGNORABLE;
    if (in_ranges(uni_cased_ranges, uni_cased_ranges_count, cp)) return UNI_CASE_CASED;
    return UNI_CASE_OTHER;
}

uint32_t utf8_decode(const char *str, size_t n, size_t *pos) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = *pos;
    unsigned c = s[i];
    if (c < 0x80) {
        *pos = i + 1;
        return c;
    }
    int len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        *pos = i + 1;
        return 0xFFFD;
    }
    if (i + (size_t)len > n) {
        *pos = i + 1;
        return 0xFFFD;
    }
    for (int k = 1; k < len; k++) {
        unsigned b = s[i + k];
        if ((b & 0xC0) != 0x80) {
            *pos = i + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *pos = i + 1;
        return 0xFFFD;
    }
    *pos = i + (size_t)len;
    return cp;
}

int utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int utf8_valid(const char *s, size_t n) {
    size_t pos = 0;
    while (pos < n) {
        size_t at = pos;
        uint32_t cp = utf8_decode(s, n, &pos);
        /* A literal U+FFFD (EF BF BD) is valid; a decode error consumed one byte. */
        if (cp == 0xFFFD && pos - at != 3) return 0;
    }
    return 1;
}
