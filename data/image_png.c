/* PNG decode/encode with libpng (data/image.h).
 *
 * libpng reports errors by longjmp to the setjmp in each function (never
 * abort/exit); its messages go into our buffer, warnings are dropped. Reading
 * is from memory, so running out of bytes is reported as truncation. The
 * conversion to RGB follows PIL's convert("RGB"): palettes expanded, gray
 * replicated, low bit depths scaled to 0..255, 16-bit reduced to the high
 * byte, alpha (including tRNS transparency) dropped without compositing. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/image.h"

typedef struct {
    const uint8_t *buf;
    size_t size, pos;
    char message[256];
    /* encoder output */
    uint8_t *out;
    size_t out_size, out_cap;
} PngIo;

static void png_on_error(png_structp png, png_const_charp msg) {
    PngIo *io = (PngIo *)png_get_error_ptr(png);
    snprintf(io->message, sizeof io->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep data, png_size_t n) {
    PngIo *io = (PngIo *)png_get_io_ptr(png);
    if (n > io->size - io->pos) {
        PngIo *e = (PngIo *)png_get_error_ptr(png);
        snprintf(e->message, sizeof e->message, "truncated PNG data (file ends at byte %zu)", io->size);
        png_longjmp(png, 2);
    }
    memcpy(data, io->buf + io->pos, n);
    io->pos += n;
}

int image_decode_png(const uint8_t *buf, size_t size, const char *name, Image *out) {
    memset(out, 0, sizeof *out);
    PngIo io = {.buf = buf, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return error_set("%s: out of memory creating the PNG decoder", name);
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    int jump = setjmp(png_jmpbuf(png));
    if (jump) {
        png_destroy_read_struct(&png, &info, NULL);
        if (pixels != out->data) free(pixels); /* 3 channels decode in place */
        free(rows);
        image_free(out);
        if (jump == 2) return error_set("%s: %s", name, io.message);
        if (jump == 3) return error_set("%s", io.message); /* already names the file */
        return error_set("%s: corrupt PNG data: %s", name, io.message);
    }
    png_set_read_fn(png, &io, png_read_mem);
    png_read_info(png, info);
    if (image_check_size(png_get_image_width(png, info), png_get_image_height(png, info), name) < 0) {
        snprintf(io.message, sizeof io.message, "%s", error_message());
        png_longjmp(png, 3);
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png); /* high byte, as PIL's ";16B" unpackers */
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    int nc = png_get_channels(png, info); /* 3, or 4 when alpha/tRNS came along */
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((nc != 3 && nc != 4) || rowbytes != (size_t)w * (size_t)nc) {
        snprintf(io.message, sizeof io.message, "unsupported layout (%d channels, %zu bytes per row)", nc,
                 rowbytes);
        png_longjmp(png, 1);
    }
    if (image_create(out, w, h, IMAGE_U8) != 0) {
        snprintf(io.message, sizeof io.message, "%s", error_message());
        png_longjmp(png, 1);
    }
    pixels = nc == 3 ? image_u8(out) : malloc(rowbytes * (size_t)h);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!pixels || !rows) {
        snprintf(io.message, sizeof io.message, "out of memory");
        png_longjmp(png, 1);
    }
    for (int y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    if (nc == 4) {
        uint8_t *dst = image_u8(out);
        for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
            dst[3 * i] = pixels[4 * i];
            dst[3 * i + 1] = pixels[4 * i + 1];
            dst[3 * i + 2] = pixels[4 * i + 2];
        }
        free(pixels);
    }
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

static void png_write_mem(png_structp png, png_bytep data, png_size_t n) {
    PngIo *io = (PngIo *)png_get_io_ptr(png);
    if (io->out_size + n > io->out_cap) {
        size_t cap = io->out_cap ? io->out_cap : 4096;
        while (cap < io->out_size + n) cap *= 2;
        uint8_t *grown = realloc(io->out, cap);
        if (!grown) png_error(png, "out of memory");
        io->out = grown;
        io->out_cap = cap;
    }
    memcpy(io->out + io->out_size, data, n);
    io->out_size += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

int image_write_png(const char *path, const Image *img) {
    if (img->dtype != IMAGE_U8 || img->channels != 3)
        return error_set("%s: PNG encoding needs a uint8 RGB image", path);
    PngIo io = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        return error_set("%s: out of memory creating the PNG encoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(io.out);
        return error_set("%s: PNG encoding failed: %s", path, io.message);
    }
    png_set_write_fn(png, &io, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const uint8_t *src = image_u8(img);
    for (int y = 0; y < img->height; y++) png_write_row(png, (png_const_bytep)(src + (size_t)y * (size_t)img->width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    int rc = file_write_atomic(path, io.out, io.out_size);
    free(io.out);
    return rc;
}
