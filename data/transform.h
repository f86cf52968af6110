/* Image transforms of the LAVIS BLIP/ALBEF pipeline (spec/albef_blip.md §5.5).
 *
 * Eval (`blip_image_eval`): PIL-bicubic resize to S x S (aspect not kept),
 * /255, normalise with the CLIP mean/std, CHW float32.
 * Train (`blip_image_train`): RandomResizedCrop(S, scale (0.5, 1), ratio
 * (3/4, 4/3), bicubic) as torchvision samples it, horizontal flip p = 0.5,
 * LAVIS RandomAugment(N = 2, M = 5) over ten ops drawn with replacement, each
 * applied with probability 0.5 (§9 items 8-9), then /255 and normalise.
 *
 * Randomness: one Philox stream per (epoch, sample) under the run seed
 * (core/rng.h), so a sample's augmentation depends on nothing else (not on
 * worker threads, batch composition or the order images are loaded).
 * A sample with several images (NLVR2) passes a distinct `sample` per image,
 * e.g. 2 * index + k. */
#ifndef DATA_TRANSFORM_H
#define DATA_TRANSFORM_H

#include <stdint.h>

#include "core/rng.h"
#include "data/image.h"

/* CLIP normalisation statistics (spec §5.5 step 5). */
extern const float transform_clip_mean[3];
extern const float transform_clip_std[3];

/* uint8 HWC -> float CHW: (v / 255 - mean[c]) / std[c] in float32, like
 * torchvision ToTensor + Normalize. out holds 3 * height * width floats. */
void transform_normalize(const Image *img, float *out_chw);

/* Eval transform: out holds 3 * size * size floats. 0, or -1 with error_set. */
int transform_eval(const Image *src, int size, float *out_chw);

/* ---- training transform ---- */

typedef enum {
    RA_IDENTITY,
    RA_AUTOCONTRAST,
    RA_BRIGHTNESS,
    RA_SHARPNESS,
    RA_EQUALIZE,
    RA_SHEAR_X,
    RA_SHEAR_Y,
    RA_TRANSLATE_X,
    RA_TRANSLATE_Y,
    RA_ROTATE,
    RA_COUNT
} RandAugOp;

enum { RANDAUG_N = 2, RANDAUG_M = 5, RANDAUG_MAX_LEVEL = 10 };

typedef struct {
    int x, y, w, h; /* crop rectangle in the source image */
} CropBox;

/* Everything the training transform drew for one sample. */
typedef struct {
    CropBox crop;
    int flip;
    RandAugOp op[RANDAUG_N];
    int applied[RANDAUG_N]; /* each op runs with probability 0.5 */
    float arg[RANDAUG_N];   /* signed magnitude: shear factor, pixels, degrees, enhance factor */
} TrainAugment;

/* torchvision RandomResizedCrop.get_params: 10 tries of area fraction
 * U(scale_lo, scale_hi) and log-aspect U(log ratio_lo, log ratio_hi), sides
 * rounded half-to-even like Python's round(), top-left uniform; fallback is a
 * centre crop with the aspect clamped to [ratio_lo, ratio_hi]. */
CropBox transform_sample_crop(Rng *r, int width, int height, double scale_lo, double scale_hi, double ratio_lo,
                              double ratio_hi);

/* The Rng of one sample's augmentation. */
Rng transform_rng(uint64_t seed, uint64_t epoch, uint64_t sample);

/* Draws the augmentation of a width x height source for (seed, epoch, sample). */
void transform_train_draw(uint64_t seed, uint64_t epoch, uint64_t sample, int width, int height,
                          TrainAugment *aug);

/* The training transform: out holds 3 * size * size floats; `aug` (may be
 * NULL) receives what was drawn. 0, or -1 with error_set. */
int transform_train(const Image *src, int size, uint64_t seed, uint64_t epoch, uint64_t sample, float *out_chw,
                    TrainAugment *aug);

/* ---- RandomAugment ops on uint8 images, in place (data/transform_randaug.c) ---- */

const char *randaug_op_name(RandAugOp op);
/* The magnitude of `op` at level m (LAVIS level_to_args), before the sign. */
float randaug_magnitude(RandAugOp op, int level);
/* Applies op with its signed argument. 0, or -1 on allocation failure. */
int randaug_apply(Image *img, RandAugOp op, float arg);

void randaug_flip_horizontal(Image *img);
void randaug_autocontrast(Image *img);
void randaug_equalize(Image *img);
void randaug_brightness(Image *img, float factor);
int randaug_sharpness(Image *img, float factor);
/* cv2.warpAffine(img, M, (W, H), INTER_LINEAR, BORDER_CONSTANT, fill) with M
 * the forward 2x3 map (source -> destination). */
int randaug_warp_affine(Image *img, const double M[6], const uint8_t fill[3]);

#endif
