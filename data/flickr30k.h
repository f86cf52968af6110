/* Flickr30K retrieval annotations as ALBEF/BLIP/LAVIS ship them
 * (spec/albef_blip.md §6.1, Karpathy split):
 *   train:    one record per caption  {"image": rel, "caption": text, "image_id": key}
 *   val/test: one record per image    {"image": rel, "caption": [text, ...]}
 * Images are numbered densely in order of first appearance (train: of image_id,
 * the `idx` of ITC/ITM); texts keep file order (val/test: image by image, caption
 * by caption), which gives the txt2img / img2txt maps of the retrieval protocol. */
#ifndef DATA_FLICKR30K_H
#define DATA_FLICKR30K_H

#include <stdint.h>

typedef enum {
    FLICKR30K_TRAIN = 0, /* one record per caption */
    FLICKR30K_EVAL = 1,  /* one record per image (val, test) */
} Flickr30kLayout;

typedef struct {
    int64_t n_images, n_texts;
    char **image_paths;     /* [n_images] "<image_root>/<image>" */
    char **image_keys;      /* [n_images] train: image_id as text; eval: the "image" field */
    char **texts;           /* [n_texts] captions as written (pre_caption is the tokenizer's job) */
    int64_t *txt2img;       /* [n_texts] image index of each text */
    int64_t *img2txt_start; /* [n_images + 1] texts of image i: img2txt[start[i] .. start[i+1]) */
    int64_t *img2txt;       /* [n_texts] text indices grouped by image, in file order */
    int64_t n_invalid_utf8; /* captions holding invalid UTF-8 (logged as a warning) */
} Flickr30kSplit;

/* Reads one annotation file. image_root may be NULL (paths stay relative).
 * With check_images, a missing image file is an error. Errors (-1, error_set):
 * empty file, malformed JSON (line/column), a record without or with a mistyped
 * "image"/"caption"/"image_id", an empty caption list, the same image listed
 * twice in val/test, one train image_id given two different image files. */
int flickr30k_read(const char *json_path, Flickr30kLayout layout, const char *image_root, int check_images,
                   Flickr30kSplit *out);
void flickr30k_free(Flickr30kSplit *s);

#endif
