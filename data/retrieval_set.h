/* A Flickr30K-format retrieval split ready for batching: the annotations
 * (data/flickr30k.h), every caption cleaned (pre_caption, LAVIS style) and
 * tokenised to a fixed length, and the images decoded once and kept in memory
 * when they fit the cache budget (the synthetic worlds and small subsets);
 * otherwise each access decodes from disk.
 *
 * Pixels come out through the eval transform (resize + CLIP normalisation) or
 * the LAVIS training transform (spec/albef_blip.md §5.5), keyed by
 * (seed, epoch, image) so a run is reproducible. */
#ifndef DATA_RETRIEVAL_SET_H
#define DATA_RETRIEVAL_SET_H

#include <stdint.h>

#include "data/flickr30k.h"
#include "data/image.h"
#include "data/tokenizer.h"

typedef enum {
    IMAGE_AUG_NONE = 0,  /* eval transform */
    IMAGE_AUG_LAVIS = 1, /* RandomResizedCrop(0.5-1) + flip + RandAugment(2,5) */
} ImageAugment;

typedef struct {
    Flickr30kSplit split;
    int max_len;
    int32_t *ids;    /* [n_texts, max_len] [CLS] ... [SEP] [PAD]... */
    int32_t *mask;   /* [n_texts, max_len] 1 real, 0 padding */
    int image_size;  /* side of the model input */
    Image *cache;    /* [n_images] decoded images, or NULL when not cached */
} RetrievalSet;

/* Reads and prepares one split. cache_bytes: the most memory the decoded
 * images may take (0 = never cache). Errors name the file and item. */
int retrieval_set_load(RetrievalSet *s, const char *json_path, Flickr30kLayout layout, const char *image_root,
                       const Tokenizer *tok, int max_len, int image_size, int64_t cache_bytes);
void retrieval_set_free(RetrievalSet *s);

/* The model input of image i: 3·size·size floats (CHW). */
int retrieval_set_pixels(const RetrievalSet *s, int64_t image, ImageAugment aug, uint64_t seed, uint64_t epoch,
                         float *out_chw);

/* Continues the FNV-1a hash *h (core/xalloc.h) over everything of the split a model trained on it depends
 * on: each image's path, size and modification time (cheap, and a replaced
 * or edited image changes it), the tokenised captions and their masks, the
 * text-image map and the deletion keys. -1 with error_set when an image file
 * cannot be examined. */
int retrieval_set_fingerprint(const RetrievalSet *s, uint64_t *h);
/* The deletion key of text (pair) t: its image's key (spec/unlearning_methods.md §1.1). */
static inline const char *retrieval_set_pair_key(const RetrievalSet *s, int64_t t) {
    return s->split.image_keys[s->split.txt2img[t]];
}

#endif
