/* JPEG decode/encode with libjpeg(-turbo) (data/image.h).
 *
 * libjpeg's default error handler calls exit(); ours longjmps back so a
 * corrupt file is a user error with a message, never the end of the process.
 * A truncated file is only a *warning* to libjpeg (it pads with an EOI and
 * returns grey rows); PIL refuses such files ("image file is truncated"), and
 * a silently grey image is exactly what DESIGN.md forbids, so that warning is
 * promoted to an error, and so is its twin for scan data cut short by a
 * marker ("premature end of data segment"), which greys the rest the same
 * way (a 150-byte file then decodes as 38949 x 235 grey pixels). Other
 * warnings (extraneous bytes) are tolerated as PIL tolerates them. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/image.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated;
    /* Encoder output: kept here (its address escapes to libjpeg, so it lives
     * in memory) so the error path can free it after a longjmp. */
    unsigned char *mem;
    unsigned long mem_size;
} JpegErr;

static void jpeg_on_error(j_common_ptr cinfo) {
    JpegErr *err = (JpegErr *)cinfo->err;
    err->base.format_message(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
    JpegErr *err = (JpegErr *)cinfo->err;
    if (level < 0 && (err->base.msg_code == JWRN_JPEG_EOF || err->base.msg_code == JWRN_HIT_MARKER)) {
        err->truncated = 1;
        snprintf(err->message, sizeof err->message, "premature end of %s",
                 err->base.msg_code == JWRN_JPEG_EOF ? "data" : "a data segment");
        longjmp(err->jump, 1);
    }
    /* other warnings and trace messages: silent */
}

/* PIL's CMYK -> RGB (Convert.c semantics): with nk = 255 - K,
 * R = nk - round(C * nk / 255), the division done as the exact-rounding
 * (t + (t >> 8)) >> 8 of t = C * nk + 128. */
static inline uint8_t cmyk_channel(int c, int nk) {
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

int image_decode_jpeg(const uint8_t *buf, size_t size, const char *name, Image *out) {
    struct jpeg_decompress_struct cinfo;
    JpegErr err;
    memset(&err, 0, sizeof err);
    memset(out, 0, sizeof *out);
    uint8_t *volatile row = NULL;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_on_error;
    err.base.emit_message = jpeg_on_message;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        image_free(out);
        if (err.truncated) return error_set("%s: truncated JPEG data (%s)", name, err.message);
        return error_set("%s: corrupt JPEG data: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    default: cinfo.out_color_space = JCS_RGB; break;
    }
    if (image_check_size(cinfo.image_width, cinfo.image_height, name) < 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, nc = cinfo.output_components;
    if (image_create(out, w, h, IMAGE_U8) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return error_prefix("%s", name);
    }
    row = malloc((size_t)w * (size_t)nc);
    if (!row) {
        snprintf(err.message, sizeof err.message, "out of memory");
        longjmp(err.jump, 1);
    }
    uint8_t *dst = image_u8(out);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *o = dst + (size_t)cinfo.output_scanline * (size_t)w * 3;
        JSAMPROW rows[1] = {nc == 3 ? o : row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (nc == 1) {
            for (int x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x];
        } else if (cmyk) {
            /* Adobe polarity: stored samples are inverted ink, so raw K is
             * already 255 - K and ink C is 255 - raw C (PIL's "CMYK;I"). */
            for (int x = 0; x < w; x++) {
                const uint8_t *p = row + 4 * x;
                int nk = p[3];
                o[3 * x] = cmyk_channel(255 - p[0], nk);
                o[3 * x + 1] = cmyk_channel(255 - p[1], nk);
                o[3 * x + 2] = cmyk_channel(255 - p[2], nk);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return 0;
}

int image_write_jpeg(const char *path, const Image *img, int quality) {
    if (img->dtype != IMAGE_U8 || img->channels != 3)
        return error_set("%s: JPEG encoding needs a uint8 RGB image", path);
    if (quality < 1 || quality > 100) return error_set("%s: JPEG quality %d outside 1..100", path, quality);
    struct jpeg_compress_struct cinfo;
    JpegErr err;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_on_error;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(err.mem);
        return error_set("%s: JPEG encoding failed: %s", path, err.message);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &err.mem, &err.mem_size);
    cinfo.image_width = (JDIMENSION)img->width;
    cinfo.image_height = (JDIMENSION)img->height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    const uint8_t *src = image_u8(img);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[1] = {(JSAMPROW)(src + (size_t)cinfo.next_scanline * (size_t)img->width * 3)};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    int rc = file_write_atomic(path, err.mem, (size_t)err.mem_size);
    free(err.mem);
    return rc;
}
