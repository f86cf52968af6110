/* NLVR2 annotations as LAVIS ships them (spec/albef_blip.md §6.3):
 * {"images": [left, right], "sentence": statement, "label": "True" | "False"};
 * paths are joined with the image root; label map False 0, True 1.
 * The deletion unit is the image pair, keyed by the string Python gives the
 * tuple (left, right) (spec/unlearning_methods.md §1.1): "('a.png', 'b.png')". */
#ifndef DATA_NLVR2_H
#define DATA_NLVR2_H

#include <stddef.h>
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

/* NLVR2's training augmentation (spec/albef_blip.md §3.3): with probability 0.5 the two images
 * swap and, when the sentence contains "left" or "right", every occurrence of
 * each becomes the other (substring replacement: "leftmost" -> "rightmost").
 * Decides from one uniform draw u in [0, 1): swap when u < 0.5. Writes the
 * (possibly rewritten) sentence into out (size out_size) and returns 1 when
 * the images swap. */
int nlvr2_swap_sentence(const char *sentence, float u, char *out, size_t out_size);

#endif
