/* Eval and training transforms (data/transform.h, spec/albef_blip.md §5.5). */
#include "data/transform.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "data/image_resize.h"

const float transform_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float transform_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void transform_normalize(const Image *img, float *out_chw) {
    CHECK(img->dtype == IMAGE_U8, "normalize takes uint8");
    /* Same float32 operations as ToTensor (x / 255) then Normalize
     * ((x - m) / s), tabulated once per channel: bit-identical and cheap. */
    float table[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) table[c][v] = ((float)v / 255.0f - transform_clip_mean[c]) / transform_clip_std[c];
    size_t plane = (size_t)img->width * img->height;
    const uint8_t *p = image_u8(img);
    float *r = out_chw, *g = out_chw + plane, *b = out_chw + 2 * plane;
    for (size_t i = 0; i < plane; i++) {
        r[i] = table[0][p[3 * i]];
        g[i] = table[1][p[3 * i + 1]];
        b[i] = table[2][p[3 * i + 2]];
    }
}

int transform_eval(const Image *src, int size, float *out_chw) {
    Image r;
    if (image_resize_bicubic(src, size, size, &r) != 0) return -1;
    transform_normalize(&r, out_chw);
    image_free(&r);
    return 0;
}

/* Python's round(): half to even, which rint() does in the default rounding mode. */
static int round_half_even(double v) { return (int)rint(v); }

CropBox transform_sample_crop(Rng *r, int width, int height, double scale_lo, double scale_hi, double ratio_lo,
                              double ratio_hi) {
    double area = (double)width * height;
    double log_lo = log(ratio_lo), log_hi = log(ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (scale_lo + (scale_hi - scale_lo) * rng_uniform(r));
        double aspect = exp(log_lo + (log_hi - log_lo) * rng_uniform(r));
        int w = round_half_even(sqrt(target * aspect));
        int h = round_half_even(sqrt(target / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            int y = (int)rng_below(r, (uint64_t)(height - h + 1));
            int x = (int)rng_below(r, (uint64_t)(width - w + 1));
            return (CropBox){x, y, w, h};
        }
    }
    double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < ratio_lo) {
        h = round_half_even(w / ratio_lo);
    } else if (in_ratio > ratio_hi) {
        w = round_half_even(h * ratio_hi);
    }
    return (CropBox){(width - w) / 2, (height - h) / 2, w, h};
}

Rng transform_rng(uint64_t seed, uint64_t epoch, uint64_t sample) {
    /* The key mixes a tag ("IMAG") into the seed so that these streams never
     * coincide with another module's streams under the same seed; the stream
     * is epoch * 2^40 + sample (2^40 samples per epoch is beyond any dataset). */
    return rng_make(seed ^ 0x494D414700000000ull, (epoch << 40) + (sample & ((1ull << 40) - 1)));
}

void transform_train_draw(uint64_t seed, uint64_t epoch, uint64_t sample, int width, int height,
                          TrainAugment *aug) {
    Rng r = transform_rng(seed, epoch, sample);
    aug->crop = transform_sample_crop(&r, width, height, 0.5, 1.0, 3.0 / 4.0, 4.0 / 3.0);
    aug->flip = rng_uniform(&r) < 0.5f;
    /* LAVIS RandomAugment: np.random.choice(augs, N) (with replacement), then
     * per op `if random() > 0.5: skip`, then the level's random sign. Three
     * draws per op whether or not it runs, so the stream layout is fixed. */
    for (int k = 0; k < RANDAUG_N; k++) {
        aug->op[k] = (RandAugOp)rng_below(&r, RA_COUNT);
        aug->applied[k] = !(rng_uniform(&r) > 0.5f);
        float sign = rng_uniform(&r) < 0.5f ? -1.0f : 1.0f;
        float mag = randaug_magnitude(aug->op[k], RANDAUG_M);
        int signed_op = aug->op[k] == RA_SHEAR_X || aug->op[k] == RA_SHEAR_Y || aug->op[k] == RA_TRANSLATE_X ||
                        aug->op[k] == RA_TRANSLATE_Y || aug->op[k] == RA_ROTATE;
        aug->arg[k] = signed_op ? sign * mag : mag;
    }
}

int transform_train(const Image *src, int size, uint64_t seed, uint64_t epoch, uint64_t sample, float *out_chw,
                    TrainAugment *aug) {
    TrainAugment local;
    if (!aug) aug = &local;
    transform_train_draw(seed, epoch, sample, src->width, src->height, aug);
    Image crop, img;
    const CropBox *c = &aug->crop;
    /* torchvision resized_crop on PIL: img.crop(box) then resize (§5.5 step 1) */
    if (image_crop(src, c->x, c->y, c->w, c->h, &crop) != 0) return -1;
    int rc = image_resize_bicubic(&crop, size, size, &img);
    image_free(&crop);
    if (rc != 0) return -1;
    if (aug->flip) randaug_flip_horizontal(&img);
    for (int k = 0; k < RANDAUG_N; k++)
        if (aug->applied[k] && randaug_apply(&img, aug->op[k], aug->arg[k]) != 0) {
            image_free(&img);
            return -1;
        }
    transform_normalize(&img, out_chw);
    image_free(&img);
    return 0;
}
