/* Image decoding, encoding, errors and resizing against PIL/torch references
 * written by scripts/make_image_fixtures.py (tests/fixtures/images/). */
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/image.h"
#include "data/image_resize.h"
#include "tests/test.h"

static char *fixture(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/images/%s", test_fixture_dir(), name);
    return buf;
}

/* Reads a binary PPM (P6, maxval 255) fixture into img; 0 or -1. */
static int read_ppm(const char *name, Image *img) {
    char path[512];
    size_t size;
    char *buf = file_read_all(fixture(path, sizeof path, name), &size);
    if (!buf) return -1;
    int w, h, maxv, off = 0;
    if (sscanf(buf, "P6 %d %d %d%n", &w, &h, &maxv, &off) != 3 || maxv != 255 ||
        (size_t)off + 1 + (size_t)w * h * 3 != size || image_create(img, w, h, IMAGE_U8) != 0) {
        free(buf);
        return error_set("%s: bad PPM", path);
    }
    memcpy(img->data, buf + off + 1, (size_t)w * h * 3);
    free(buf);
    return 0;
}

static float *read_f32(const char *name, size_t count) {
    char path[512];
    size_t size;
    char *buf = file_read_all(fixture(path, sizeof path, name), &size);
    if (!buf) return NULL;
    if (size != count * sizeof(float)) {
        free(buf);
        return NULL;
    }
    return (float *)buf;
}

/* Largest |a - b| over all samples; -1 when the sizes differ. */
static int max_abs_diff(const Image *a, const Image *b) {
    if (a->width != b->width || a->height != b->height) return -1;
    int worst = 0;
    for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) {
        int d = abs((int)image_u8(a)[i] - (int)image_u8(b)[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

/* Decodes fixture `file` and compares with its PIL reference; returns max diff or -1. */
static int decode_vs_pil(const char *file, const char *ref_name) {
    char path[512];
    Image img, ref;
    if (image_read(fixture(path, sizeof path, file), &img) != 0) {
        fprintf(stderr, "  %s\n", error_message());
        return -1;
    }
    if (read_ppm(ref_name, &ref) != 0) {
        image_free(&img);
        return -1;
    }
    int d = max_abs_diff(&img, &ref);
    image_free(&img);
    image_free(&ref);
    return d;
}

/* libjpeg-turbo with PIL's settings (islow IDCT, fancy upsampling) is the
 * same library PIL links, so the match is exact. */
TEST(test_image_jpeg_decode_matches_pil_exactly) {
    ASSERT_EQ_INT(decode_vs_pil("rgb.jpg", "rgb_jpg.ref.ppm"), 0);
    ASSERT_EQ_INT(decode_vs_pil("gray.jpg", "gray_jpg.ref.ppm"), 0);
}

TEST(test_image_jpeg_cmyk_adobe_matches_pil) { ASSERT_EQ_INT(decode_vs_pil("cmyk.jpg", "cmyk_jpg.ref.ppm"), 0); }

TEST(test_image_png_every_colour_type_matches_pil) {
    const char *names[][2] = {{"gray.png", "gray_png.ref.ppm"},         {"gray1.png", "gray1_png.ref.ppm"},
                              {"gray_alpha.png", "gray_alpha_png.ref.ppm"}, {"palette.png", "palette_png.ref.ppm"},
                              {"rgb.png", "rgb_png.ref.ppm"},           {"rgba.png", "rgba_png.ref.ppm"},
                              {"rgb16.png", "rgb16_png.ref.ppm"},       {"gray16.png", "gray16_png.ref.ppm"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ASSERT_MSG(decode_vs_pil(names[i][0], names[i][1]) == 0, "%s differs from PIL", names[i][0]);
}

TEST(test_image_decode_gray_replicates_channels) {
    char path[512];
    Image img;
    ASSERT(image_read(fixture(path, sizeof path, "gray.jpg"), &img) == 0);
    ASSERT_EQ_INT(img.width, 37);
    ASSERT_EQ_INT(img.height, 23);
    const uint8_t *p = image_u8(&img);
    int same = 1;
    for (int i = 0; i < 37 * 23; i++) same &= p[3 * i] == p[3 * i + 1] && p[3 * i] == p[3 * i + 2];
    image_free(&img);
    ASSERT(same);
}

TEST(test_image_png_write_read_roundtrip_exact) {
    Image a, b;
    ASSERT(read_ppm("resize_src.ppm", &a) == 0);
    char path[512];
    test_tmp_path(path, sizeof path, "roundtrip.png");
    ASSERT(image_write_png(path, &a) == 0);
    ASSERT(image_read(path, &b) == 0);
    int d = max_abs_diff(&a, &b);
    image_free(&a);
    image_free(&b);
    ASSERT_EQ_INT(d, 0);
}

TEST(test_image_jpeg_write_read_roundtrip_close) {
    /* A smooth image survives quality-95 JPEG within a few levels. */
    Image a, b;
    ASSERT(image_create(&a, 64, 48, IMAGE_U8) == 0);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = image_u8(&a) + (y * 64 + x) * 3;
            p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 5), p[2] = 100;
        }
    char path[512];
    test_tmp_path(path, sizeof path, "roundtrip.jpg");
    ASSERT(image_write_jpeg(path, &a, 95) == 0);
    ASSERT(image_read(path, &b) == 0);
    int d = max_abs_diff(&a, &b);
    ASSERT(image_write_jpeg(path, &b, 0) == -1);
    image_free(&a);
    image_free(&b);
    ASSERT_MSG(d >= 0 && d <= 8, "max diff %d", d);
    ASSERT_STR_CONTAINS(error_message(), "quality 0");
}

/* Writes the first `keep` bytes of a fixture (or `text`) to a scratch file. */
static const char *scratch_copy(char *out, size_t n, const char *fixture_name, double keep, const char *name) {
    char path[512];
    size_t size;
    char *buf = file_read_all(fixture(path, sizeof path, fixture_name), &size);
    if (!buf) return NULL;
    test_tmp_path(out, n, name);
    int rc = file_write_atomic(out, buf, (size_t)(size * keep));
    free(buf);
    return rc == 0 ? out : NULL;
}

TEST(test_image_errors_name_file_and_reason) {
    Image img;
    char path[512];
    ASSERT(image_read("/nonexistent/dir/x.jpg", &img) == -1);
    ASSERT_STR_CONTAINS(error_message(), "/nonexistent/dir/x.jpg: No such file");
    ASSERT(img.data == NULL);

    test_tmp_path(path, sizeof path, "text.jpg");
    ASSERT(file_write_atomic(path, "hello, not a picture\n", 21) == 0);
    ASSERT(image_read(path, &img) == -1);
    ASSERT_STR_CONTAINS(error_message(), "text.jpg: not an image");

    ASSERT(scratch_copy(path, sizeof path, "rgb.jpg", 0.6, "cut.jpg"));
    ASSERT(image_read(path, &img) == -1);
    ASSERT_STR_CONTAINS(error_message(), "cut.jpg: truncated JPEG data");

    ASSERT(scratch_copy(path, sizeof path, "rgb.png", 0.6, "cut.png"));
    ASSERT(image_read(path, &img) == -1);
    ASSERT_STR_CONTAINS(error_message(), "cut.png: truncated PNG data");
    ASSERT(img.data == NULL);
}

TEST(test_image_errors_corrupt_data) {
    Image img;
    char path[512], src[512];
    size_t size;
    /* PNG: flip a byte inside the first IDAT payload -> CRC mismatch. */
    char *buf = file_read_all(fixture(src, sizeof src, "rgb.png"), &size);
    ASSERT(buf);
    char *idat = memmem(buf, size, "IDAT", 4);
    ASSERT(idat);
    idat[10] ^= 0x55;
    test_tmp_path(path, sizeof path, "bad.png");
    ASSERT(file_write_atomic(path, buf, size) == 0);
    free(buf);
    ASSERT(image_read(path, &img) == -1);
    ASSERT_STR_CONTAINS(error_message(), "bad.png: corrupt PNG data");

    /* JPEG: destroy the SOF0 marker's precision byte -> libjpeg error, no exit. */
    buf = file_read_all(fixture(src, sizeof src, "rgb.jpg"), &size);
    ASSERT(buf);
    int found = 0;
    for (size_t i = 0; i + 4 < size; i++)
        if ((uint8_t)buf[i] == 0xFF && (uint8_t)buf[i + 1] == 0xC0) {
            buf[i + 4] = 3; /* precision 3 bits: unsupported */
            found = 1;
            break;
        }
    ASSERT(found);
    test_tmp_path(path, sizeof path, "bad.jpg");
    ASSERT(file_write_atomic(path, buf, size) == 0);
    free(buf);
    ASSERT(image_read(path, &img) == -1);
    ASSERT_STR_CONTAINS(error_message(), "bad.jpg: corrupt JPEG data");
}

/* ---- resize ---- */

static int resize_vs_pil(int w, int h) {
    Image src, out, ref;
    char name[64];
    snprintf(name, sizeof name, "resize_%dx%d.ppm", w, h);
    if (read_ppm("resize_src.ppm", &src) != 0 || read_ppm(name, &ref) != 0) return -1;
    if (image_resize_bicubic(&src, w, h, &out) != 0) return -1;
    int d = max_abs_diff(&out, &ref);
    image_free(&src);
    image_free(&out);
    image_free(&ref);
    return d;
}

/* PIL's algorithm reproduced with its fixed-point arithmetic: exact. */
TEST(test_image_resize_bicubic_matches_pil_down_and_up) {
    ASSERT_EQ_INT(resize_vs_pil(16, 16), 0); /* down both axes */
    ASSERT_EQ_INT(resize_vs_pil(50, 41), 0); /* up both axes */
    ASSERT_EQ_INT(resize_vs_pil(23, 37), 0); /* down x, up y */
    ASSERT_EQ_INT(resize_vs_pil(8, 5), 0);   /* strong antialiasing, factor 4.6 */
    ASSERT_EQ_INT(resize_vs_pil(37, 64), 0); /* vertical pass only */
}

TEST(test_image_resize_constant_image_stays_constant) {
    Image a, b;
    ASSERT(image_create(&a, 31, 17, IMAGE_U8) == 0);
    memset(a.data, 77, 31 * 17 * 3);
    ASSERT(image_resize_bicubic(&a, 13, 40, &b) == 0);
    int ok = 1;
    for (int i = 0; i < 13 * 40 * 3; i++) ok &= image_u8(&b)[i] == 77;
    image_free(&a);
    image_free(&b);
    ASSERT(ok);
}

static int grid_vs_torch(int C, int Hs, int Ws, int Hd, int Wd, double *worst) {
    char name[96], name2[128];
    snprintf(name, sizeof name, "grid_%dx%dx%d.f32", C, Hs, Ws);
    snprintf(name2, sizeof name2, "grid_%dx%dx%d_to_%dx%d.f32", C, Hs, Ws, Hd, Wd);
    float *src = read_f32(name, (size_t)C * Hs * Ws), *ref = read_f32(name2, (size_t)C * Hd * Wd);
    float *out = malloc(sizeof(float) * (size_t)C * Hd * Wd);
    int ok = src && ref && out;
    *worst = 0;
    if (ok) {
        bicubic_resize_grid_f32(src, C, Hs, Ws, out, Hd, Wd);
        for (int i = 0; i < C * Hd * Wd; i++) {
            double d = fabs((double)out[i] - ref[i]);
            if (d > *worst) *worst = d;
        }
    }
    free(src), free(ref), free(out);
    return ok ? 0 : -1;
}

TEST(test_image_grid_bicubic_matches_torch) {
    double worst;
    ASSERT(grid_vs_torch(4, 16, 16, 24, 24, &worst) == 0); /* ALBEF pos_embed 16 -> 24 */
    ASSERT_NEAR(worst, 0, 1e-5);
    ASSERT(grid_vs_torch(4, 14, 14, 24, 24, &worst) == 0); /* BLIP 14 -> 24 */
    ASSERT_NEAR(worst, 0, 1e-5);
    ASSERT(grid_vs_torch(2, 5, 7, 3, 11, &worst) == 0); /* non-square, down and up */
    ASSERT_NEAR(worst, 0, 1e-5);
}
