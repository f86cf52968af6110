/* libFuzzer harness: an image file through the project's loader
 * (data/image.h: signature sniffing, then the JPEG or PNG decoder). A decoded
 * image must be as large as it says. */
#include <stdlib.h>

#include "data/image.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Image img;
    if (image_read(fuzz_input_file(data, size, "image", 0), &img) != 0) return 0;
    if (img.channels != 3 || img.width <= 0 || img.height <= 0) abort();
    /* touch the last pixel: ASan reports a buffer shorter than width x height x 3 */
    volatile uint8_t last = image_u8(&img)[(size_t)img.width * (size_t)img.height * 3 - 1];
    (void)last;
    image_free(&img);
    return 0;
}
