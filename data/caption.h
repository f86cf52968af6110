/* Caption cleaning applied before tokenisation: LAVIS's `pre_caption` (the
 * blip_caption processor, spec/albef_blip.md §6.4), used for Flickr30K
 * captions, SNLI-VE hypotheses and NLVR2 statements. It is a step of its own
 * because the tokenizer (data/tokenizer.h) must also serve text that LAVIS
 * does not clean.
 *
 * CAPTION_LAVIS (what this project's configs drive), in order:
 *  1. lower-case (Python str.lower(): full Unicode, Final_Sigma included);
 *  2. each of  . ! " ( ) * # : ; ~  becomes a space;
 *  3. every run of 2 or more whitespace characters (Python's \s) becomes one
 *     space (a single tab or newline stays as it is);
 *  4. trailing newlines, then leading/trailing spaces are stripped;
 *  5. split on single spaces: more than max_words items keeps the first
 *     max_words, re-joined with single spaces.
 * CAPTION_ORIG_ALBEF (salesforce/ALBEF): step 2 instead deletes
 *  , . ' ! ? " ( ) * # : ; ~ , turns - and / into spaces and <person> into
 *  person; steps 3-5 are the same.
 *
 * max_words: LAVIS uses 50 (no config overrides it); the original ALBEF and
 * BLIP repositories use 30, which is what their published numbers saw. */
#ifndef DATA_CAPTION_H
#define DATA_CAPTION_H

#define PRE_CAPTION_MAX_WORDS_LAVIS 50
#define PRE_CAPTION_MAX_WORDS_ORIG 30

typedef enum { CAPTION_LAVIS, CAPTION_ORIG_ALBEF } CaptionStyle;

/* The cleaned caption as a new malloc'ed UTF-8 string (free() it). Malformed
 * UTF-8 bytes become U+FFFD, which the tokenizer drops. max_words >= 1. */
char *pre_caption(const char *caption, CaptionStyle style, int max_words);

#endif
