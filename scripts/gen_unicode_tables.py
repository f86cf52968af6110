#!/usr/bin/python3
"""Writes data/unicode_tables.c: the Unicode character data the BERT basic
tokenizer needs (data/tokenizer.c), taken from this Python's `unicodedata`.

Hugging Face's BertTokenizer decides everything with Python's own Unicode
database (unicodedata.category, str.lower, unicodedata.normalize, str.isspace),
so the tables come from the same source; the version is written into the
output (uni_tables_version).

Usage (from the repository root):  /usr/bin/python3 scripts/gen_unicode_tables.py
The output is committed; rerun only to move to another Unicode version.

Tables (all sorted, searched by bisection in data/unicode.c):
  control     category C* (Cc Cf Cn Co Cs) minus \\t \\n \\r: HF _is_control,
              dropped by _clean_text
  zs          category Zs: HF _is_whitespace (with space, \\t, \\n, \\r)
  pyspace     str.isspace(): the separators of HF whitespace_tokenize (str.split())
  punct       category P*: HF _is_punctuation (the ASCII ranges are added in C)
  mn          category Mn: removed by HF _run_strip_accents
  lower       str.lower() of one code point where it is a different single
              code point (U+0130, the one multi-character case, is in C)
  case_ign    Case_Ignorable, and
  cased       Cased and not Case_Ignorable: the classes of the Final_Sigma
              rule that str.lower() applies to U+03A3 (pre_caption lowers the
              whole caption, data/caption.c), derived by asking str.lower()
  fold        per code point: str.lower() (no context), then NFD, then drop Mn,
              for every code point where that is not the identity and is not
              covered by `mn` (dropped) or Hangul syllables (decomposed
              algorithmically in C).

The script asserts the properties data/unicode.c relies on (see the checks at
the end), so a Unicode version that breaks one fails here, not silently.
"""
import os
import sys
import unicodedata as ud

MAX_CP = 0x110000
HANGUL_BASE, HANGUL_COUNT = 0xAC00, 11172
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "unicode_tables.c")


def cat(cp):
    return ud.category(chr(cp))


def ranges(pred):
    """Maximal runs [lo, hi] of code points where pred holds."""
    out, lo = [], None
    for cp in range(MAX_CP + 1):
        ok = cp < MAX_CP and pred(cp)
        if ok and lo is None:
            lo = cp
        elif not ok and lo is not None:
            out.append((lo, cp - 1))
            lo = None
    return out


def fold(cp):
    """What HF's uncased path does to one character: the tokenizer lowers each
    character of the raw text on its own (PreTrainedTokenizer.tokenize with
    do_lower_case), BasicTokenizer lowers the word again, then strip_accents
    applies NFD and drops Mn."""
    s = chr(cp).lower().lower()
    return "".join(c for c in ud.normalize("NFD", s) if ud.category(c) != "Mn")


def is_cjk(cp):
    # HF BasicTokenizer._is_chinese_char (the C code has the same list).
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def is_control(cp):
    return cp not in (9, 10, 13) and cat(cp).startswith("C")


def is_ws(cp):
    return cp in (9, 10, 13, 32) or cat(cp) == "Zs"


def is_punct(cp):
    return (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
            or cat(cp).startswith("P"))


def emit_ranges(f, name, rs):
    f.write("const uint32_t %s[][2] = {\n" % name)
    for i in range(0, len(rs), 4):
        f.write("    " + " ".join("{0x%05X, 0x%05X}," % r for r in rs[i:i + 4]) + "\n")
    f.write("};\nconst int %s_count = %d;\n\n" % (name, len(rs)))


def main():
    control = ranges(is_control)
    zs = ranges(lambda cp: cat(cp) == "Zs")
    pyspace = ranges(lambda cp: chr(cp).isspace())
    punct = ranges(lambda cp: cat(cp).startswith("P"))
    mn = ranges(lambda cp: cat(cp) == "Mn")

    lower = [(cp, ord(chr(cp).lower())) for cp in range(MAX_CP)
             if chr(cp).lower() != chr(cp) and cp != 0x130]
    # CPython's Final_Sigma test skips Case_Ignorable characters first, then
    # asks Cased; probing str.lower() gives exactly those two answers.
    sigma_after = lambda ctx: (ctx + "\u03a3").lower()[-1] == "\u03c2"
    case_ign = ranges(lambda cp: sigma_after("A" + chr(cp)) and not sigma_after(chr(cp)))
    cased = ranges(lambda cp: sigma_after(chr(cp)))

    fold_keys, fold_vals = [], []
    max_len = 0
    for cp in range(MAX_CP):
        if HANGUL_BASE <= cp < HANGUL_BASE + HANGUL_COUNT or cat(cp) == "Mn":
            continue
        s = fold(cp)
        if s != chr(cp):
            fold_keys.append(cp)
            fold_vals.append([ord(c) for c in s])
            max_len = max(max_len, len(s))

    # --- properties data/unicode.c and data/tokenizer.c rely on ---------------
    for cp in range(MAX_CP):
        c = chr(cp)
        if cat(cp) == "Mn":
            # An Mn character folds to nothing (lowercase of an Mn is itself or Mn).
            assert fold(cp) == "", hex(cp)
        low = c.lower()
        if low != c:
            # Cleaning, whitespace and CJK tests may look at the original
            # character instead of its lowercase (HF lowers first).
            for x in low:
                assert is_control(ord(x)) == is_control(cp), hex(cp)
                assert is_ws(ord(x)) == is_ws(cp), hex(cp)
                assert x.isspace() == c.isspace(), hex(cp)
                assert is_cjk(ord(x)) == is_cjk(cp), hex(cp)
        if is_control(cp) or cp in (0, 0xFFFD) or is_ws(cp) or c.isspace():
            continue  # removed or a separator before folding happens
        for x in fold(cp):
            # Folding never produces a separator, a dropped character or a CJK
            # ideograph from a non-CJK one, so later stages see no surprises.
            assert not x.isspace() and not is_ws(ord(x)), hex(cp)
            assert not is_control(ord(x)) and ord(x) not in (0, 0xFFFD), hex(cp)
            assert is_cjk(ord(x)) == is_cjk(cp) or not is_cjk(ord(x)), hex(cp)
    for s in range(HANGUL_COUNT):
        cp = HANGUL_BASE + s
        exp = [0x1100 + s // 588, 0x1161 + (s % 588) // 28] + ([0x11A7 + s % 28] if s % 28 else [])
        assert [ord(x) for x in fold(cp)] == exp, hex(cp)
    assert chr(0x130).lower() == "i\u0307"
    for cp, lo in lower:
        assert len(chr(cp).lower()) == 1
    assert ("\u03a3").lower() == "\u03c3" and ("A\u03a3").lower() == "a\u03c2"
    # ASCII: the C fast path assumes only A-Z change.
    for cp in range(128):
        assert fold(cp) == chr(cp).lower() and (fold(cp) != chr(cp)) == (65 <= cp <= 90)
    assert max_len <= 4, max_len

    with open(OUT + ".tmp", "w") as f:
        f.write("/* Generated by scripts/gen_unicode_tables.py from Python %s unicodedata %s.\n"
                " * Do not edit; rerun the script. Meaning of each table: see the script\n"
                " * and data/unicode_tables.h. */\n" % (sys.version.split()[0], ud.unidata_version))
        f.write('#include "data/unicode_tables.h"\n\n')
        f.write('const char uni_tables_version[] = "%s";\n\n' % ud.unidata_version)
        emit_ranges(f, "uni_control_ranges", control)
        emit_ranges(f, "uni_zs_ranges", zs)
        emit_ranges(f, "uni_pyspace_ranges", pyspace)
        emit_ranges(f, "uni_punct_ranges", punct)
        emit_ranges(f, "uni_mn_ranges", mn)
        f.write("/* lower: code point -> its lowercase (single code point). */\n")
        f.write("const uint32_t uni_lower_map[][2] = {\n")
        for i in range(0, len(lower), 4):
            f.write("    " + " ".join("{0x%05X, 0x%05X}," % m for m in lower[i:i + 4]) + "\n")
        f.write("};\nconst int uni_lower_map_count = %d;\n\n" % len(lower))
        emit_ranges(f, "uni_case_ign_ranges", case_ign)
        emit_ranges(f, "uni_cased_ranges", cased)
        f.write("/* fold: key code point, offset into uni_fold_pool, length. */\n")
        f.write("const uint32_t uni_fold_keys[] = {\n")
        for i in range(0, len(fold_keys), 8):
            f.write("    " + " ".join("0x%05X," % k for k in fold_keys[i:i + 8]) + "\n")
        f.write("};\n")
        pool, entries = [], []
        for v in fold_vals:
            entries.append((len(pool), len(v)))
            pool.extend(v)
        f.write("const uint16_t uni_fold_off[] = {\n")
        for i in range(0, len(entries), 12):
            f.write("    " + " ".join("%d," % e[0] for e in entries[i:i + 12]) + "\n")
        f.write("};\nconst uint8_t uni_fold_len[] = {\n")
        for i in range(0, len(entries), 24):
            f.write("    " + " ".join("%d," % e[1] for e in entries[i:i + 24]) + "\n")
        f.write("};\nconst uint32_t uni_fold_pool[] = {\n")
        for i in range(0, len(pool), 8):
            f.write("    " + " ".join("0x%05X," % p for p in pool[i:i + 8]) + "\n")
        f.write("};\nconst int uni_fold_count = %d;\n" % len(fold_keys))
        assert len(pool) < 65536
    os.replace(OUT + ".tmp", OUT)
    print("wrote %s: %d control, %d zs, %d pyspace, %d punct, %d mn ranges, %d folds (max %d)"
          % (OUT, len(control), len(zs), len(pyspace), len(punct), len(mn), len(fold_keys), max_len))


if __name__ == "__main__":
    main()
