/* Bicubic resampling: PIL's uint8 resize and PyTorch's float interpolate
 * (conventions documented in data/image_resize.h). */
#include "data/image_resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- PIL convention ------------------------------------------------------ */

enum { PIL_PRECISION_BITS = 32 - 8 - 2 }; /* 22: room for 8-bit pixels times weights */

static double pil_bicubic(double x) {
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

/* For each output index: first source tap, number of taps, and `ksize`
 * fixed-point weights. Returns ksize, or -1 on allocation failure. */
static int pil_coeffs(int in_size, int out_size, int **bounds_out, int32_t **weights_out) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1 ? 1 : scale;
    double support = 2.0 * filterscale; /* bicubic support 2, widened when downscaling */
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    int32_t *weights = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!bounds || !weights || !k) {
        free(bounds);
        free(weights);
        free(k);
        return -1;
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            k[i] = pil_bicubic((i + lo - center + 0.5) / filterscale);
            sum += k[i];
        }
        for (int i = 0; i < n; i++) {
            double w = sum != 0 ? k[i] / sum : k[i];
            /* round half away from zero into 22-bit fixed point */
            weights[(size_t)o * ksize + i] = (int32_t)(w * (1 << PIL_PRECISION_BITS) + (w < 0 ? -0.5 : 0.5));
        }
        bounds[2 * o] = lo;
        bounds[2 * o + 1] = n;
    }
    free(k);
    *bounds_out = bounds;
    *weights_out = weights;
    return ksize;
}

static inline uint8_t pil_clip8(int32_t acc) {
    int32_t v = acc >> PIL_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over rows [0, rows) of src (stride in_w*3) into dst (out_w). */
static void pil_pass_h(const uint8_t *src, int in_w, int rows, uint8_t *dst, int out_w, const int *bounds,
                       const int32_t *weights, int ksize) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *s = src + (size_t)y * in_w * 3;
        uint8_t *d = dst + (size_t)y * out_w * 3;
        for (int o = 0; o < out_w; o++) {
            const int32_t *w = weights + (size_t)o * ksize;
            const uint8_t *p = s + (size_t)bounds[2 * o] * 3;
            int n = bounds[2 * o + 1];
            int32_t r = 1 << (PIL_PRECISION_BITS - 1), g = r, b = r;
            for (int i = 0; i < n; i++) {
                r += p[3 * i] * w[i];
                g += p[3 * i + 1] * w[i];
                b += p[3 * i + 2] * w[i];
            }
            d[3 * o] = pil_clip8(r);
            d[3 * o + 1] = pil_clip8(g);
            d[3 * o + 2] = pil_clip8(b);
        }
    }
}

/* Vertical pass: output row o sums rows bounds[2o] .. of src (`width`
 * columns) into a row of int32 accumulators, which vectorises. */
static void pil_pass_v(const uint8_t *src, int width, uint8_t *dst, int out_h, const int *bounds,
                       const int32_t *weights, int ksize, int32_t *acc) {
    size_t stride = (size_t)width * 3;
    for (int o = 0; o < out_h; o++) {
        const int32_t *w = weights + (size_t)o * ksize;
        const uint8_t *s = src + (size_t)bounds[2 * o] * stride;
        int n = bounds[2 * o + 1];
        for (size_t x = 0; x < stride; x++) acc[x] = 1 << (PIL_PRECISION_BITS - 1);
        for (int i = 0; i < n; i++) {
            const uint8_t *row = s + (size_t)i * stride;
            int32_t wi = w[i];
            for (size_t x = 0; x < stride; x++) acc[x] += row[x] * wi;
        }
        uint8_t *d = dst + (size_t)o * stride;
        for (size_t x = 0; x < stride; x++) d[x] = pil_clip8(acc[x]);
    }
}

int image_resize_bicubic(const Image *src, int out_w, int out_h, Image *dst) {
    CHECK(src->dtype == IMAGE_U8 && src->channels == 3, "PIL-style resize takes uint8 RGB");
    if (image_create(dst, out_w, out_h, IMAGE_U8) != 0) return -1;
    int in_w = src->width, in_h = src->height;
    if (in_w == out_w && in_h == out_h) { /* PIL returns a copy */
        memcpy(dst->data, src->data, (size_t)in_w * in_h * 3);
        return 0;
    }
    int *hb = NULL, *vb = NULL;
    int32_t *hw = NULL, *vw = NULL;
    uint8_t *tmp = NULL;
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)out_w * 3);
    int hk = pil_coeffs(in_w, out_w, &hb, &hw);
    int vk = pil_coeffs(in_h, out_h, &vb, &vw);
    if (hk < 0 || vk < 0 || !acc) goto oom;
    if (in_w != out_w && in_h != out_h) {
        /* Horizontal pass only over the source rows the vertical pass reads. */
        int first = vb[0], last = vb[2 * (out_h - 1)] + vb[2 * (out_h - 1) + 1];
        tmp = malloc((size_t)(last - first) * out_w * 3);
        if (!tmp) goto oom;
        pil_pass_h(image_u8(src) + (size_t)first * in_w * 3, in_w, last - first, tmp, out_w, hb, hw, hk);
        for (int o = 0; o < out_h; o++) vb[2 * o] -= first;
        pil_pass_v(tmp, out_w, image_u8(dst), out_h, vb, vw, vk, acc);
    } else if (in_w != out_w) {
        pil_pass_h(image_u8(src), in_w, in_h, image_u8(dst), out_w, hb, hw, hk);
    } else {
        pil_pass_v(image_u8(src), in_w, image_u8(dst), out_h, vb, vw, vk, acc);
    }
    free(hb), free(hw), free(vb), free(vw), free(tmp), free(acc);
    return 0;
oom:
    free(hb), free(hw), free(vb), free(vw), free(tmp), free(acc);
    image_free(dst);
    return error_set("image resize %dx%d -> %dx%d: out of memory", in_w, in_h, out_w, out_h);
}

int image_crop(const Image *src, int x, int y, int w, int h, Image *dst) {
    CHECK(src->dtype == IMAGE_U8, "crop takes uint8");
    CHECK(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= src->width && y + h <= src->height,
          "crop %d,%d %dx%d outside %dx%d", x, y, w, h, src->width, src->height);
    if (image_create(dst, w, h, IMAGE_U8) != 0) return -1;
    for (int r = 0; r < h; r++)
        memcpy(image_u8(dst) + (size_t)r * w * 3, image_u8(src) + ((size_t)(y + r) * src->width + x) * 3,
               (size_t)w * 3);
    return 0;
}

/* ---- PyTorch convention (float32 arithmetic like its CPU kernel) ---------- */

static void torch_cubic_weights(float t, float w[4]) {
    const float A = -0.75f;
    float x1 = t + 1.0f, x2 = 1.0f - t, x3 = 2.0f - t;
    w[0] = ((A * x1 - 5.0f * A) * x1 + 8.0f * A) * x1 - 4.0f * A;
    w[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
    w[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
    w[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Tap indices and weights along one axis. */
static void torch_axis(int in, int out, int *idx, float *w) {
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float s = scale * ((float)o + 0.5f) - 0.5f; /* not clamped: cubic keeps negative sources */
        float f = floorf(s);
        int i0 = (int)f;
        torch_cubic_weights(s - f, w + 4 * o);
        for (int k = 0; k < 4; k++) idx[4 * o + k] = clampi(i0 - 1 + k, 0, in - 1);
    }
}

void bicubic_resize_grid_f32(const float *src, int C, int Hs, int Ws, float *dst, int Hd, int Wd) {
    int *ix = malloc(sizeof(int) * 4 * (size_t)Wd), *iy = malloc(sizeof(int) * 4 * (size_t)Hd);
    float *wx = malloc(sizeof(float) * 4 * (size_t)Wd), *wy = malloc(sizeof(float) * 4 * (size_t)Hd);
    CHECK(ix && iy && wx && wy, "out of memory");
    torch_axis(Ws, Wd, ix, wx);
    torch_axis(Hs, Hd, iy, wy);
    for (int c = 0; c < C; c++) {
        const float *s = src + (size_t)c * Hs * Ws;
        float *d = dst + (size_t)c * Hd * Wd;
        for (int oy = 0; oy < Hd; oy++) {
            for (int ox = 0; ox < Wd; ox++) {
                /* interpolate along x within each of the 4 rows, then along y */
                float acc = 0;
                for (int ky = 0; ky < 4; ky++) {
                    const float *row = s + (size_t)iy[4 * oy + ky] * Ws;
                    const int *xi = ix + 4 * ox;
                    const float *xw = wx + 4 * ox;
                    float r = row[xi[0]] * xw[0] + row[xi[1]] * xw[1] + row[xi[2]] * xw[2] + row[xi[3]] * xw[3];
                    acc += r * wy[4 * oy + ky];
                }
                d[(size_t)oy * Wd + ox] = acc;
            }
        }
    }
    free(ix), free(iy), free(wx), free(wy);
}
