/* SNLI-VE annotations as LAVIS ships them (spec/albef_blip.md §6.2):
 * {"image": "<flickr30k id, no extension>", "sentence": hypothesis,
 *  "label": "entailment" | "neutral" | "contradiction"}; image file =
 * "<image_root>/<image>.jpg". Label ids follow LAVIS: contradiction 0, neutral 1,
 * entailment 2. */
#ifndef DATA_SNLI_VE_H
#define DATA_SNLI_VE_H

#include <stdint.h>

typedef enum {
    SNLI_VE_CONTRADICTION = 0,
    SNLI_VE_NEUTRAL = 1,
    SNLI_VE_ENTAILMENT = 2,
} SnliVeLabel;

typedef struct {
    char *image;      /* the premise image id (the deletion key, spec/unlearning_methods.md §1.2 item 4) */
    char *image_path; /* "<image_root>/<image>.jpg" */
    char *sentence;   /* hypothesis as written */
    int label;        /* SnliVeLabel */
} SnliVeRecord;

typedef struct {
    SnliVeRecord *records;
    int64_t n;
    int64_t n_invalid_utf8; /* hypotheses holding invalid UTF-8 (logged as a warning) */
} SnliVeSplit;

/* Errors (-1, error_set): empty file, malformed JSON, missing or mistyped field,
 * an unknown label, a missing image file (with check_images). */
int snli_ve_read(const char *json_path, const char *image_root, int check_images, SnliVeSplit *out);
void snli_ve_free(SnliVeSplit *s);

/* "contradiction"/"neutral"/"entailment" <-> 0/1/2; parse returns -1 for anything else. */
const char *snli_ve_label_name(int label);
int snli_ve_label_parse(const char *name);

#endif
