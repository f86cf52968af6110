/* Image allocation and format dispatch (data/image.h). */
#include "data/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"

int image_check_size(long long width, long long height, const char *name) {
    if (width <= 0 || height <= 0 || width > 65535 || height > 65535)
        return error_set("%s: invalid image size %lld x %lld", name, width, height);
    if (width * height > IMAGE_MAX_PIXELS)
        return error_set("%s: image size %lld x %lld exceeds the limit of %lld pixels", name, width, height,
                         IMAGE_MAX_PIXELS);
    return 0;
}

int image_create(Image *img, int width, int height, ImageDtype dtype) {
    memset(img, 0, sizeof *img);
    if (image_check_size(width, height, "image") < 0) return -1;
    size_t elem = dtype == IMAGE_F32 ? sizeof(float) : 1;
    img->data = calloc((size_t)width * (size_t)height * 3, elem);
    if (!img->data) return error_set("image: out of memory for %d x %d", width, height);
    img->width = width;
    img->height = height;
    img->channels = 3;
    img->dtype = dtype;
    return 0;
}

void image_free(Image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

int image_read(const char *path, Image *out) {
    memset(out, 0, sizeof *out);
    size_t size = 0;
    uint8_t *buf = (uint8_t *)file_read_all(path, &size);
    if (!buf) return -1; /* "<path>: No such file or directory" */
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int rc;
    /* Sniff the signature as PIL does: the extension says nothing reliable. */
    if (size >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        rc = image_decode_jpeg(buf, size, path, out);
    else if (size >= 8 && memcmp(buf, png_sig, 8) == 0)
        rc = image_decode_png(buf, size, path, out);
    else if (size == 0)
        rc = error_set("%s: not an image (empty file)", path);
    else
        rc = error_set("%s: not an image (neither a JPEG nor a PNG signature)", path);
    free(buf);
    return rc;
}
