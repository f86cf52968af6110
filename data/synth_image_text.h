/* The synthetic image-text world written to disk in the real formats
 * (DESIGN.md "Programs: mkdata"; spec/albef_blip.md §6), so the readers and
 * every program run on it unchanged:
 *   <out>/images/<id>.jpg                        rendered scenes (data/synth_scene.h)
 *   <out>/flickr30k_train.json                   one record per caption (5 per image)
 *   <out>/flickr30k_val.json, flickr30k_test.json one record per image, 5 captions
 *   <out>/ve_train.json, ve_dev.json, ve_test.json   SNLI-VE hypotheses, image = <id>
 *   <out>/nlvr_train.json, nlvr_dev.json, nlvr_test.json  NLVR2 image pairs
 *                                                (both data/synth_claims.h: the label is not in the text)
 *   <out>/scenes.json                            the facts behind every image
 *   <out>/vocab.txt                              WordPiece vocab of the captions and the
 *                                                vocabulary corpus (data/synth_text.h)
 * Image root for every annotation file: <out>/images. Image ids are decimal
 * numbers (1000000 + index: train, then val, then test), as Flickr30K ids are.
 * Same options -> the same bytes in every file. */
#ifndef DATA_SYNTH_IMAGE_TEXT_H
#define DATA_SYNTH_IMAGE_TEXT_H

#include <stdint.h>

typedef struct {
    uint64_t seed;
    int train_images, val_images, test_images;
    int image_size;         /* square side in pixels */
    int ve_per_label;       /* SNLI-VE hypotheses per image and label, 0..1000 (0: empty VE files) */
    int nlvr_pairs_percent; /* NLVR2 items per split: 2 x this % of its images, one true and one false
                             * statement each on its own image pair; 0..10000 (0: empty NLVR2 files) */
    int jpeg_quality;
    int vocab_size;         /* WordPiece vocabulary size (data/wordpiece_build.h) */
    int emblem_percent;     /* images with a rare emblem (data/synth_emblem.h); 0: plain scenes */
    int emblem_captions;    /* captions of such an image that name its emblem (of 5) */
} SynthImageTextOptions;

/* The worlds by name:
 *   "longtail" (the default): 800 train / 150 val / 150 test scenes, each
 *              with one emblem, a concept that occurs once, named in 2 of its
 *              5 captions; the tiny ALBEF fits the common grammar and
 *              memorises the pairs it saw, so deleted pairs are
 *              distinguishable from unseen ones, as on real data (README
 *              "First minutes" gives the measurements);
 *   "scenes":  the plain scenes of 1,000 train / 150 val / 150 test images,
 *              which a tiny ALBEF learns without memorising any pair.
 * Images are 64x64 in both. 0, or -1 with error_set naming the known worlds. */
int synth_image_text_world(const char *name, SynthImageTextOptions *out);
#define SYNTH_WORLD_DEFAULT "longtail"
#define SYNTH_WORLD_NAMES "longtail|scenes"

/* The default world's options (synth_image_text_world(SYNTH_WORLD_DEFAULT)). */
SynthImageTextOptions synth_image_text_defaults(void);

#define SYNTH_IMAGE_ID_BASE 1000000

/* Writes the world under out_dir (created). 0, or -1 with error_set. */
int synth_image_text_write(const SynthImageTextOptions *opt, const char *out_dir);

#endif
