/* NLVR2 annotations as LAVIS ships them (spec/albef_blip.md §6.3):
 * {"images": [left, right], "sentence": statement, "label": "True" | "False"};
 * paths are joined with the image root; label map False 0, True 1.
 * The deletion unit is the image pair, keyed by the string Python gives the
 * tuple (left, right) (spec/unlearning_methods.md §1.1): "('a.png', 'b.png')". */
#ifndef DATA_NLVR2_H
#define DATA_NLVR2_H

#include <stdint.h>

typedef struct {
    char *images[2];      /* as written in the file */
    char *image_paths[2]; /* "<image_root>/<images[k]>" */
    char *sentence;
    int label;            /* 0 False, 1 True */
    char *pair_key;       /* nlvr2_pair_key(images[0], images[1]) */
} Nlvr2Record;

typedef struct {
    Nlvr2Record *records;
    int64_t n;
    int64_t n_invalid_utf8; /* statements holding invalid UTF-8 (logged as a warning) */
} Nlvr2Split;

/* Errors (-1, error_set): empty file, malformed JSON, missing or mistyped field,
 * "images" not a list of exactly two strings, an unknown label (anything but the
 * strings "True"/"False"), a missing image file (with check_images). */
int nlvr2_read(const char *json_path, const char *image_root, int check_images, Nlvr2Split *out);
void nlvr2_free(Nlvr2Split *s);

/* str((left, right)) as Python prints it; malloc'ed. */
char *nlvr2_pair_key(const char *left, const char *right);

#endif
