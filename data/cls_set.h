/* An SNLI-VE or NLVR2 split ready for batching (spec/albef_blip.md §6.2-6.3):
 * the annotations, every sentence cleaned (pre_caption, LAVIS style, §6.4) and
 * tokenised to a fixed length, the distinct images listed once (an SNLI-VE
 * premise serves many hypotheses; NLVR2 images recur across pairs) and decoded
 * once when they fit the cache budget.
 *
 * Deletion keys (spec/unlearning_methods.md §1.1): the premise image id for
 * SNLI-VE, the Python tuple string of the image pair for NLVR2. */
#ifndef DATA_CLS_SET_H
#define DATA_CLS_SET_H

#include <stdint.h>

#include "data/image.h"
#include "data/retrieval_set.h"
#include "data/tokenizer.h"

typedef enum { CLS_SET_SNLI_VE, CLS_SET_NLVR2 } ClsSetKind;

typedef struct {
    ClsSetKind kind;
    int images_per_item; /* 1 (SNLI-VE) or 2 (NLVR2: left, right) */
    int n_classes;       /* 3 or 2 */
    int64_t n;           /* items */
    int64_t *item_images;/* [n, images_per_item] indices into image_paths */
    char **sentences;    /* [n] cleaned text */
    char **keys;         /* [n] deletion key */
    int32_t *labels;     /* [n] */
    int max_len;
    int32_t *ids, *mask; /* [n, max_len] tokenised sentences */
    int64_t n_images;
    char **image_paths;  /* [n_images] distinct, in order of first use */
    int image_size;
    Image *cache;        /* [n_images] decoded, or NULL when not cached */
} ClsSet;

/* Reads and prepares one split; errors name the file and the item. */
int cls_set_load(ClsSet *s, ClsSetKind kind, const char *json_path, const char *image_root, const Tokenizer *tok,
                 int max_len, int image_size, int64_t cache_bytes);
void cls_set_free(ClsSet *s);

/* Folds into the FNV-1a hash *h what a model trained on the split depends
 * on: each image's path, size and modification time, the items' images,
 * labels, keys and tokens (as retrieval_set_fingerprint). -1 with error_set
 * naming an image that cannot be stat'ed. */
int cls_set_fingerprint(const ClsSet *s, uint64_t *h);

/* The model input of image i (3·size·size floats, CHW), as retrieval_set_pixels. */
int cls_set_pixels(const ClsSet *s, int64_t image, ImageAugment aug, uint64_t seed, uint64_t epoch, float *out_chw);

/* Tokens of a sentence that is not stored (NLVR2's swap rewrites one): one
 * ids row and one mask row of the split's max_len. */
int cls_set_encode(const ClsSet *s, const Tokenizer *tok, const char *sentence, int32_t *ids, int32_t *mask);

#endif
