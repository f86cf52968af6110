/* Eval/train transforms and RandomAugment ops (spec/albef_blip.md §5.5). */
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/image.h"
#include "data/image_resize.h"
#include "data/transform.h"
#include "tests/test.h"

static uint8_t *px(Image *img, int x, int y) { return image_u8(img) + ((size_t)y * img->width + x) * 3; }

/* A w x h image whose every channel is `v`. */
static int make_flat(Image *img, int w, int h, uint8_t v) {
    if (image_create(img, w, h, IMAGE_U8) != 0) return -1;
    memset(img->data, v, (size_t)w * h * 3);
    return 0;
}

/* Deterministic non-trivial content. */
static int make_pattern(Image *img, int w, int h) {
    if (image_create(img, w, h, IMAGE_U8) != 0) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = px(img, x, y);
            p[0] = (uint8_t)(x * 255 / (w - 1)), p[1] = (uint8_t)(y * 255 / (h - 1)), p[2] = (uint8_t)((x * 7 + y * 13) % 256);
        }
    return 0;
}

TEST(test_image_eval_transform_matches_torchvision) {
    char path[512];
    snprintf(path, sizeof path, "%s/images/rgb.png", test_fixture_dir());
    Image src;
    ASSERT(image_read(path, &src) == 0);
    float out[3 * 16 * 16];
    ASSERT(transform_eval(&src, 16, out) == 0);
    image_free(&src);
    snprintf(path, sizeof path, "%s/images/eval_16.f32", test_fixture_dir());
    size_t size;
    float *ref = (float *)file_read_all(path, &size);
    ASSERT(ref && size == sizeof out);
    long long bad = test_close_array(out, ref, 3 * 16 * 16, 1e-6, 0);
    free(ref);
    ASSERT_EQ_INT(bad, -1);
}

TEST(test_image_normalize_clip_statistics) {
    Image img;
    ASSERT(image_create(&img, 2, 1, IMAGE_U8) == 0);
    memset(px(&img, 0, 0), 0, 3);
    memset(px(&img, 1, 0), 255, 3);
    float out[6];
    transform_normalize(&img, out);
    image_free(&img);
    /* CHW: channel c at [2c] (x = 0, value 0) and [2c+1] (x = 1, value 255) */
    ASSERT_NEAR(out[0], -0.48145466 / 0.26862954, 1e-5);
    ASSERT_NEAR(out[1], (1 - 0.48145466) / 0.26862954, 1e-5);
    ASSERT_NEAR(out[2], -0.4578275 / 0.26130258, 1e-5);
    ASSERT_NEAR(out[5], (1 - 0.40821073) / 0.27577711, 1e-5);
}

TEST(test_image_random_resized_crop_bounds_and_fallback) {
    int in_scale = 0;
    for (uint64_t s = 0; s < 500; s++) {
        Rng r = transform_rng(7, 0, s);
        CropBox b = transform_sample_crop(&r, 500, 375, 0.5, 1.0, 0.75, 4.0 / 3.0);
        ASSERT(b.x >= 0 && b.y >= 0 && b.w > 0 && b.h > 0 && b.x + b.w <= 500 && b.y + b.h <= 375);
        double frac = (double)b.w * b.h / (500.0 * 375.0), aspect = (double)b.w / b.h;
        in_scale += frac > 0.49 && frac <= 1.0 && aspect > 0.74 && aspect < 1.35;
    }
    ASSERT_EQ_INT(in_scale, 500);
    /* 100 x 10 (aspect 10) never fits: centre crop with aspect clamped to 4/3 */
    Rng r = transform_rng(7, 0, 0);
    CropBox b = transform_sample_crop(&r, 100, 10, 0.5, 1.0, 0.75, 4.0 / 3.0);
    ASSERT_EQ_INT(b.h, 10);
    ASSERT_EQ_INT(b.w, 13);
    ASSERT_EQ_INT(b.x, 43);
    ASSERT_EQ_INT(b.y, 0);
    /* 10 x 100: w = 10, h = round(10 / 0.75) = 13 */
    b = transform_sample_crop(&r, 10, 100, 0.5, 1.0, 0.75, 4.0 / 3.0);
    ASSERT_EQ_INT(b.w, 10);
    ASSERT_EQ_INT(b.h, 13);
    ASSERT_EQ_INT(b.y, 43);
}

TEST(test_image_train_transform_deterministic_by_seed) {
    Image src;
    ASSERT(make_pattern(&src, 60, 45) == 0);
    enum { S = 24 };
    float a[3 * S * S], b[3 * S * S], c[3 * S * S];
    TrainAugment aa, ab, ac;
    ASSERT(transform_train(&src, S, 1234, 3, 17, a, &aa) == 0);
    ASSERT(transform_train(&src, S, 1234, 3, 17, b, &ab) == 0);
    ASSERT(memcmp(a, b, sizeof a) == 0);
    ASSERT(memcmp(&aa, &ab, sizeof aa) == 0);
    /* another epoch, sample or seed draws another crop */
    int differ = 0;
    for (uint64_t s = 18; s < 28; s++) {
        ASSERT(transform_train(&src, S, 1234, 3, s, c, &ac) == 0);
        differ += memcmp(&ac.crop, &aa.crop, sizeof aa.crop) != 0;
    }
    ASSERT(differ >= 9);
    transform_train_draw(1234, 4, 17, 60, 45, &ac);
    ASSERT(memcmp(&ac.crop, &aa.crop, sizeof aa.crop) != 0);
    transform_train_draw(1235, 3, 17, 60, 45, &ac);
    ASSERT(memcmp(&ac.crop, &aa.crop, sizeof aa.crop) != 0);
    image_free(&src);
}

TEST(test_image_train_draw_rates_follow_spec) {
    /* flip p = 0.5, each op applied with p = 0.5, ops uniform over 10 with replacement */
    int flips = 0, applied = 0, counts[RA_COUNT] = {0}, same = 0;
    const int n = 4000;
    for (int s = 0; s < n; s++) {
        TrainAugment a;
        transform_train_draw(99, 0, (uint64_t)s, 500, 375, &a);
        flips += a.flip;
        applied += a.applied[0] + a.applied[1];
        counts[a.op[0]]++, counts[a.op[1]]++;
        same += a.op[0] == a.op[1];
        if (a.op[0] == RA_ROTATE) ASSERT(fabsf(fabsf(a.arg[0]) - 15.0f) < 1e-5f);
        if (a.op[0] == RA_SHEAR_X) ASSERT(fabsf(fabsf(a.arg[0]) - 0.15f) < 1e-6f);
        if (a.op[0] == RA_TRANSLATE_Y) ASSERT(fabsf(fabsf(a.arg[0]) - 5.0f) < 1e-6f);
        if (a.op[0] == RA_BRIGHTNESS) ASSERT(a.arg[0] == 1.0f);
    }
    ASSERT_NEAR(flips / (double)n, 0.5, 0.03);
    ASSERT_NEAR(applied / (2.0 * n), 0.5, 0.03);
    for (int k = 0; k < RA_COUNT; k++) ASSERT_NEAR(counts[k] / (2.0 * n), 0.1, 0.02);
    ASSERT_NEAR(same / (double)n, 0.1, 0.02); /* with replacement: the same op twice 1 time in 10 */
}

TEST(test_image_flip_mirrors_columns) {
    Image img;
    ASSERT(make_pattern(&img, 5, 3) == 0);
    uint8_t before[3];
    memcpy(before, px(&img, 0, 2), 3);
    randaug_flip_horizontal(&img);
    ASSERT(memcmp(px(&img, 4, 2), before, 3) == 0);
    image_free(&img);
}

TEST(test_image_randaug_identity_and_m5_enhance_are_identities) {
    Image a, b;
    ASSERT(make_pattern(&a, 20, 20) == 0 && make_pattern(&b, 20, 20) == 0);
    ASSERT(randaug_apply(&b, RA_IDENTITY, 0) == 0);
    ASSERT(randaug_apply(&b, RA_BRIGHTNESS, randaug_magnitude(RA_BRIGHTNESS, RANDAUG_M)) == 0);
    ASSERT(randaug_apply(&b, RA_SHARPNESS, randaug_magnitude(RA_SHARPNESS, RANDAUG_M)) == 0);
    ASSERT(memcmp(a.data, b.data, 20 * 20 * 3) == 0); /* spec §9 item 9 */
    image_free(&a), image_free(&b);
}

TEST(test_image_randaug_autocontrast_stretches_each_channel) {
    Image img;
    ASSERT(make_flat(&img, 4, 4, 100) == 0);
    for (int i = 0; i < 16; i++) {
        uint8_t *p = image_u8(&img) + 3 * i;
        p[0] = (uint8_t)(50 + i * 6); /* 50..140 */
        p[1] = (uint8_t)(200 - i);    /* 185..200 */
    }
    randaug_autocontrast(&img);
    ASSERT_EQ_INT(image_u8(&img)[0], 0);
    ASSERT_EQ_INT(image_u8(&img)[3 * 15], 255);
    ASSERT_EQ_INT(image_u8(&img)[1], 255);
    ASSERT_EQ_INT(image_u8(&img)[3 * 15 + 1], 0);
    ASSERT_EQ_INT(image_u8(&img)[3 * 5], 85); /* (80 - 50) * 255 / 90 = 85.0 */
    ASSERT_EQ_INT(image_u8(&img)[3 * 1], 17); /* 6 * 255 / 90 = 17.0 */
    ASSERT_EQ_INT(image_u8(&img)[3 * 2], 34); /* 34.0 */
    ASSERT_EQ_INT(image_u8(&img)[2], 100);    /* flat channel unchanged */
    image_free(&img);
}

TEST(test_image_randaug_equalize_pil_semantics) {
    /* 1024 pixels, values 10/20/30/40 x 256 each: step = 768 // 255 = 3,
     * v -> (1 + #below) // 3 = 0, 85, 171, 256 -> 255 */
    Image img;
    ASSERT(make_flat(&img, 32, 32, 0) == 0);
    for (int i = 0; i < 1024; i++) memset(image_u8(&img) + 3 * i, 10 * (1 + i / 256), 3);
    randaug_equalize(&img);
    ASSERT_EQ_INT(image_u8(&img)[0], 0);
    ASSERT_EQ_INT(image_u8(&img)[3 * 256], 85);
    ASSERT_EQ_INT(image_u8(&img)[3 * 512], 171);
    ASSERT_EQ_INT(image_u8(&img)[3 * 1023], 255);
    image_free(&img);
}

TEST(test_image_randaug_brightness_truncates) {
    Image img;
    ASSERT(make_flat(&img, 2, 2, 255) == 0);
    image_u8(&img)[0] = 200;
    randaug_brightness(&img, 0.5f);
    ASSERT_EQ_INT(image_u8(&img)[0], 100);
    ASSERT_EQ_INT(image_u8(&img)[1], 127); /* 127.5 truncated */
    randaug_brightness(&img, 3.0f);
    ASSERT_EQ_INT(image_u8(&img)[0], 255); /* clipped */
    image_free(&img);
}

TEST(test_image_randaug_sharpness_smooths_and_sharpens) {
    Image img;
    ASSERT(make_flat(&img, 5, 5, 0) == 0);
    memset(px(&img, 2, 2), 255, 3);
    ASSERT(randaug_sharpness(&img, 0.0f) == 0); /* factor 0: the smoothed image */
    ASSERT_EQ_INT(px(&img, 2, 2)[0], 98);      /* 255 * 5 / 13 */
    ASSERT_EQ_INT(px(&img, 1, 1)[1], 20);      /* 255 / 13 */
    ASSERT_EQ_INT(px(&img, 0, 0)[2], 0);
    Image b;
    ASSERT(make_flat(&b, 5, 5, 100) == 0);
    memset(px(&b, 2, 2), 200, 3);
    ASSERT(randaug_sharpness(&b, 2.0f) == 0);
    /* centre: deg = round((800 + 1000) / 13) = 138; 138 + 2 * (200 - 138) = 262 -> 255 */
    ASSERT_EQ_INT(px(&b, 2, 2)[0], 255);
    /* neighbour: deg = round((100 * 12 + 200) / 13) = 108; 108 + 2 * (100 - 108) = 92 */
    ASSERT_EQ_INT(px(&b, 1, 2)[0], 92);
    ASSERT_EQ_INT(px(&b, 0, 2)[0], 100); /* border rows/columns keep their pixels */
    image_free(&img), image_free(&b);
}

/* A 32 x 32 black image with a white vertical line at x = 10. */
static int make_line(Image *img) {
    if (make_flat(img, 32, 32, 0) != 0) return -1;
    for (int y = 0; y < 32; y++) memset(px(img, 10, y), 255, 3);
    return 0;
}

TEST(test_image_randaug_shear_x_slants_vertical_line) {
    Image img;
    ASSERT(make_line(&img) == 0);
    ASSERT(randaug_apply(&img, RA_SHEAR_X, 0.15f) == 0);
    /* dst(x, y) = src(x - 0.15 y, y): row 0 unchanged, row 20 shifted by 3 */
    ASSERT_EQ_INT(px(&img, 10, 0)[0], 255);
    ASSERT_EQ_INT(px(&img, 13, 20)[0], 255);
    ASSERT_EQ_INT(px(&img, 10, 20)[0], 0);
    /* left edge of the bottom rows comes from outside: grey fill */
    ASSERT_EQ_INT(px(&img, 0, 31)[0], 128);
    image_free(&img);
}

TEST(test_image_randaug_shear_y_and_translate) {
    Image img;
    ASSERT(make_line(&img) == 0);
    ASSERT(randaug_apply(&img, RA_TRANSLATE_X, 5.0f) == 0); /* content moves left by 5 */
    ASSERT_EQ_INT(px(&img, 5, 7)[1], 255);
    ASSERT_EQ_INT(px(&img, 10, 7)[1], 0);
    ASSERT_EQ_INT(px(&img, 27, 7)[1], 128); /* right 5 columns: fill */
    ASSERT_EQ_INT(px(&img, 26, 7)[1], 0);
    image_free(&img);

    ASSERT(make_flat(&img, 32, 32, 0) == 0);
    for (int x = 0; x < 32; x++) memset(px(&img, x, 10), 255, 3); /* horizontal line y = 10 */
    Image t;
    ASSERT(make_flat(&t, 32, 32, 0) == 0);
    memcpy(t.data, img.data, 32 * 32 * 3);
    ASSERT(randaug_apply(&t, RA_TRANSLATE_Y, -5.0f) == 0); /* content moves down by 5 */
    ASSERT_EQ_INT(px(&t, 3, 15)[2], 255);
    ASSERT_EQ_INT(px(&t, 3, 2)[2], 128);
    ASSERT(randaug_apply(&img, RA_SHEAR_Y, 0.15f) == 0); /* dst(x, y) = src(x, y - 0.15 x) */
    ASSERT_EQ_INT(px(&img, 0, 10)[0], 255);
    ASSERT_EQ_INT(px(&img, 20, 13)[0], 255);
    image_free(&img), image_free(&t);
}

TEST(test_image_randaug_rotate_about_centre) {
    Image img, r;
    ASSERT(make_pattern(&img, 32, 32) == 0 && make_pattern(&r, 32, 32) == 0);
    /* +90 degrees (counter-clockwise) about (16, 16): source (x, y) lands at (y, 32 - x) */
    ASSERT(randaug_apply(&r, RA_ROTATE, 90.0f) == 0);
    ASSERT(memcmp(px(&r, 5, 12), px(&img, 20, 5), 3) == 0);
    ASSERT(memcmp(px(&r, 30, 31), px(&img, 1, 30), 3) == 0);
    ASSERT_EQ_INT(px(&r, 3, 0)[0], 128); /* source column 32: outside -> fill */
    /* the spec's 15 degrees leaves the corners grey and the centre in place */
    image_free(&r);
    ASSERT(make_pattern(&r, 32, 32) == 0);
    ASSERT(randaug_apply(&r, RA_ROTATE, 15.0f) == 0);
    ASSERT_EQ_INT(px(&r, 0, 0)[1], 128);
    ASSERT_EQ_INT(px(&r, 31, 31)[1], 128);
    ASSERT(memcmp(px(&r, 16, 16), px(&img, 16, 16), 3) == 0);
    image_free(&img), image_free(&r);
}
