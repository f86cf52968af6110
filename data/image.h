/* Decoded images: 3-channel RGB, interleaved (HWC), uint8 or float.
 *
 * Decoding follows PIL's `Image.open(path).convert("RGB")`, which is what
 * LAVIS does before every transform (spec/albef_blip.md §5.5 "Decode with PIL,
 * convert to RGB"):
 *   - JPEG through libjpeg-turbo with its defaults (islow IDCT, fancy
 *     upsampling), as PIL does, so pixels match PIL bit for bit.
 *   - Grayscale becomes R = G = B. CMYK and YCCK JPEGs are read with Adobe
 *     polarity (inverted ink) like PIL, which assumes that convention for
 *     every 4-channel JPEG, and are converted with PIL's CMYK -> RGB formula.
 *   - PNG alpha is dropped (convert("RGB") does not composite), palettes are
 *     expanded, bit depths below 8 are scaled to 0..255, 16-bit samples keep
 *     their high byte (PIL's "RGB;16B" unpacking). One deliberate difference:
 *     PIL clamps 16-bit *grayscale* to 255 (it goes through mode "I"); we keep
 *     the high byte there too, since clamping destroys the image.
 * Errors (missing file, not an image, truncated or corrupt data) return -1
 * with "<path>: <reason>" (core/error.h); libjpeg/libpng never exit the process. */
#ifndef DATA_IMAGE_H
#define DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IMAGE_U8 = 0, IMAGE_F32 = 1 } ImageDtype;

typedef struct {
    int width, height;
    int channels; /* always 3 (RGB) */
    ImageDtype dtype;
    void *data; /* height * width * 3 elements, row-major, RGB interleaved */
} Image;

/* The largest image decoded: PIL refuses more than 2 x Image.MAX_IMAGE_PIXELS
 * (DecompressionBombError), and so does this loader, before allocating, so a
 * small file that claims a huge size is an error, not gigabytes of memory. */
#define IMAGE_MAX_PIXELS 178956970LL
/* 0 when width x height is a decodable size; else -1 with
 * error_set("<name>: image size W x H ..."). */
int image_check_size(long long width, long long height, const char *name);
/* Allocates a zeroed width x height RGB image. 0, or -1 with error_set. */
int image_create(Image *img, int width, int height, ImageDtype dtype);
void image_free(Image *img);
static inline uint8_t *image_u8(const Image *img) { return (uint8_t *)img->data; }
static inline float *image_f32(const Image *img) { return (float *)img->data; }

/* Reads a JPEG or PNG (told apart by their signatures, not the file name). */
int image_read(const char *path, Image *out);
/* Decoders from memory; `name` is used in error messages. */
int image_decode_jpeg(const uint8_t *buf, size_t size, const char *name, Image *out);
int image_decode_png(const uint8_t *buf, size_t size, const char *name, Image *out);

/* Encoders for uint8 images, written atomically (core/fileio.h).
 * JPEG: baseline, 4:2:0 chroma subsampling (libjpeg's default, also PIL's),
 * quality 1..100. PNG: 8-bit RGB, default zlib compression. */
int image_write_jpeg(const char *path, const Image *img, int quality);
int image_write_png(const char *path, const Image *img);

#endif
