/* LAVIS RandomAugment ops on uint8 HWC images (spec/albef_blip.md §5.5 step 3).
 *
 * LAVIS implements them with numpy/OpenCV on the array from PIL; the
 * behaviours reproduced here are those documented in §5.5: AutoContrast and
 * Equalize with PIL ImageOps semantics per channel, Brightness as a clipped
 * truncating lookup table, Sharpness as a blend with the 3x3 smoothing
 * filter [[1,1,1],[1,5,1],[1,1,1]] / 13 on the interior, geometric ops as
 * OpenCV warpAffine (bilinear, fixed-point 1/32-pixel positions, constant
 * grey (128,128,128) border). Magnitudes at M = 5 of 10: enhance factor 1.0
 * (an identity, §9 item 9), shear 0.15, translate 5 px, rotate 15 degrees. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/transform.h"

static const uint8_t randaug_fill[3] = {128, 128, 128};

const char *randaug_op_name(RandAugOp op) {
    static const char *names[RA_COUNT] = {"Identity", "AutoContrast", "Brightness", "Sharpness", "Equalize",
                                          "ShearX",   "ShearY",       "TranslateX", "TranslateY", "Rotate"};
    return op >= 0 && op < RA_COUNT ? names[op] : "?";
}

float randaug_magnitude(RandAugOp op, int level) {
    float l = (float)level / RANDAUG_MAX_LEVEL;
    switch (op) {
    case RA_BRIGHTNESS:
    case RA_SHARPNESS: return l * 1.8f + 0.1f; /* enhance_level_to_args */
    case RA_SHEAR_X:
    case RA_SHEAR_Y: return l * 0.3f;
    case RA_TRANSLATE_X:
    case RA_TRANSLATE_Y: return l * 10.0f; /* translate_const = 10 */
    case RA_ROTATE: return l * 30.0f;
    default: return 0.0f;
    }
}

void randaug_flip_horizontal(Image *img) {
    uint8_t *p = image_u8(img);
    int w = img->width;
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = p + (size_t)y * w * 3;
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
    }
}

static void apply_tables(Image *img, uint8_t table[3][256]) {
    uint8_t *p = image_u8(img);
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) p[3 * i + c] = table[c][p[3 * i + c]];
}

/* PIL ImageOps.autocontrast(cutoff=0) per channel: stretch [lo, hi] to [0, 255]. */
void randaug_autocontrast(Image *img) {
    uint8_t table[3][256];
    const uint8_t *p = image_u8(img);
    size_t n = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++) {
        int lo = 255, hi = 0;
        for (size_t i = 0; i < n; i++) {
            int v = p[3 * i + c];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        for (int v = 0; v < 256; v++) {
            if (hi <= lo) {
                table[c][v] = (uint8_t)v;
                continue;
            }
            double scale = 255.0 / (hi - lo), offset = -lo * scale;
            double t = v * scale + offset;
            t = t < 0 ? 0 : t > 255 ? 255 : t;
            table[c][v] = (uint8_t)t; /* astype(uint8) truncates */
        }
    }
    apply_tables(img, table);
}

/* PIL ImageOps.equalize per channel: step = (pixels outside the last
 * occupied bin) / 255; value v -> (step / 2 + #pixels below v) / step. */
void randaug_equalize(Image *img) {
    uint8_t table[3][256];
    const uint8_t *p = image_u8(img);
    size_t n = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++) {
        uint64_t hist[256] = {0};
        for (size_t i = 0; i < n; i++) hist[p[3 * i + c]]++;
        int last = 255;
        while (last > 0 && hist[last] == 0) last--;
        uint64_t step = ((uint64_t)n - hist[last]) / 255;
        uint64_t acc = step / 2;
        for (int v = 0; v < 256; v++) {
            if (step == 0) {
                table[c][v] = (uint8_t)v;
                continue;
            }
            uint64_t t = acc / step;
            table[c][v] = (uint8_t)(t > 255 ? 255 : t);
            acc += hist[v];
        }
    }
    apply_tables(img, table);
}

/* LAVIS brightness: table = clip(v * factor, 0, 255) truncated to uint8. */
void randaug_brightness(Image *img, float factor) {
    uint8_t table[3][256];
    for (int v = 0; v < 256; v++) {
        float t = (float)v * factor;
        t = t < 0 ? 0 : t > 255 ? 255 : t;
        table[0][v] = table[1][v] = table[2][v] = (uint8_t)t;
    }
    apply_tables(img, table);
}

static inline int reflect101(int i, int n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
    return i;
}

/* LAVIS sharpness: degenerate = filter2D(img, K/13) rounded to uint8
 * (reflect-101 border); factor 0 -> degenerate, 1 -> img, else the interior
 * becomes degenerate + factor (img - degenerate), border rows/columns kept.
 * numpy's float -> uint8 cast is undefined out of range; we clamp. */
int randaug_sharpness(Image *img, float factor) {
    if (factor == 1.0f) return 0;
    int w = img->width, h = img->height;
    uint8_t *p = image_u8(img);
    uint8_t *deg = malloc((size_t)w * h * 3);
    if (!deg) return error_set("sharpness: out of memory");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float s = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        float k = (dx == 0 && dy == 0) ? 5.0f / 13.0f : 1.0f / 13.0f;
                        s += k * p[((size_t)reflect101(y + dy, h) * w + reflect101(x + dx, w)) * 3 + c];
                    }
                int v = (int)lrintf(s);
                deg[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    if (factor == 0.0f) {
        memcpy(p, deg, (size_t)w * h * 3);
    } else {
        for (int y = 1; y < h - 1; y++)
            for (int x = 1; x < w - 1; x++)
                for (int c = 0; c < 3; c++) {
                    size_t i = ((size_t)y * w + x) * 3 + c;
                    float d = deg[i], v = d + factor * ((float)p[i] - d);
                    v = v < 0 ? 0 : v > 255 ? 255 : v;
                    p[i] = (uint8_t)v;
                }
    }
    free(deg);
    return 0;
}

/* OpenCV warpAffine, INTER_LINEAR + BORDER_CONSTANT, emulated: the inverse
 * map is evaluated in fixed point (10 fractional bits, rounded to 1/32 pixel),
 * the 2x2 neighbourhood is weighted by products of 1/32 fractions (exact
 * integers summing to 1024) and rounded; taps outside the image take `fill`. */
int randaug_warp_affine(Image *img, const double M[6], const uint8_t fill[3]) {
    int w = img->width, h = img->height;
    uint8_t *src = image_u8(img);
    uint8_t *dst = malloc((size_t)w * h * 3);
    if (!dst) return error_set("warp: out of memory");
    double D = M[0] * M[4] - M[1] * M[3];
    D = D != 0 ? 1.0 / D : 0;
    double a = M[4] * D, b = -M[1] * D, d = -M[3] * D, e = M[0] * D;
    double c = -a * M[2] - b * M[5], f = -d * M[2] - e * M[5];
    const int AB_BITS = 10, INTER_BITS = 5, AB_SCALE = 1 << 10, ROUND = AB_SCALE / (1 << INTER_BITS) / 2;
    /* OpenCV splits the map into per-column and per-row fixed-point terms. */
    long *adelta = malloc(sizeof(long) * 2 * (size_t)w);
    if (!adelta) {
        free(dst);
        return error_set("warp: out of memory");
    }
    long *bdelta = adelta + w;
    for (int x = 0; x < w; x++) adelta[x] = lrint(a * x * AB_SCALE), bdelta[x] = lrint(d * x * AB_SCALE);
    for (int y = 0; y < h; y++) {
        long X0 = lrint((b * y + c) * AB_SCALE) + ROUND, Y0 = lrint((e * y + f) * AB_SCALE) + ROUND;
        for (int x = 0; x < w; x++) {
            long X = (adelta[x] + X0) >> (AB_BITS - INTER_BITS);
            long Y = (bdelta[x] + Y0) >> (AB_BITS - INTER_BITS);
            long sx = X >> INTER_BITS, sy = Y >> INTER_BITS;
            int fx = (int)(X & 31), fy = (int)(Y & 31);
            int wt[4] = {(32 - fx) * (32 - fy), fx * (32 - fy), (32 - fx) * fy, fx * fy};
            uint8_t *o = dst + ((size_t)y * w + x) * 3;
            if (sx >= 0 && sy >= 0 && sx + 1 < w && sy + 1 < h) { /* all four taps inside */
                const uint8_t *p0 = src + ((size_t)sy * w + sx) * 3, *p1 = p0 + (size_t)w * 3;
                for (int ch = 0; ch < 3; ch++)
                    o[ch] = (uint8_t)((wt[0] * p0[ch] + wt[1] * p0[ch + 3] + wt[2] * p1[ch] + wt[3] * p1[ch + 3] + 512) >> 10);
                continue;
            }
            for (int ch = 0; ch < 3; ch++) {
                int acc = 0;
                for (int k = 0; k < 4; k++) {
                    long tx = sx + (k & 1), ty = sy + (k >> 1);
                    int v = (tx >= 0 && tx < w && ty >= 0 && ty < h) ? src[((size_t)ty * w + tx) * 3 + ch] : fill[ch];
                    acc += wt[k] * v;
                }
                o[ch] = (uint8_t)((acc + 512) >> 10);
            }
        }
    }
    free(adelta);
    memcpy(src, dst, (size_t)w * h * 3);
    free(dst);
    return 0;
}

int randaug_apply(Image *img, RandAugOp op, float arg) {
    /* LAVIS builds the shear/translate matrices as np.float32, the rotation
     * with cv2.getRotationMatrix2D in double about (W/2, H/2). */
    float fa = arg;
    switch (op) {
    case RA_IDENTITY: return 0;
    case RA_AUTOCONTRAST: randaug_autocontrast(img); return 0;
    case RA_EQUALIZE: randaug_equalize(img); return 0;
    case RA_BRIGHTNESS: randaug_brightness(img, arg); return 0;
    case RA_SHARPNESS: return randaug_sharpness(img, arg);
    case RA_SHEAR_X: return randaug_warp_affine(img, (const double[6]){1, fa, 0, 0, 1, 0}, randaug_fill);
    case RA_SHEAR_Y: return randaug_warp_affine(img, (const double[6]){1, 0, 0, fa, 1, 0}, randaug_fill);
    case RA_TRANSLATE_X: return randaug_warp_affine(img, (const double[6]){1, 0, -fa, 0, 1, 0}, randaug_fill);
    case RA_TRANSLATE_Y: return randaug_warp_affine(img, (const double[6]){1, 0, 0, 0, 1, -fa}, randaug_fill);
    case RA_ROTATE: {
        double rad = (double)arg * M_PI / 180.0, al = cos(rad), be = sin(rad);
        double cx = img->width / 2.0, cy = img->height / 2.0;
        double M[6] = {al, be, (1 - al) * cx - be * cy, -be, al, be * cx + (1 - al) * cy};
        return randaug_warp_affine(img, M, randaug_fill);
    }
    default: CHECK(0, "unknown RandAugment op %d", (int)op);
    }
    return 0;
}
