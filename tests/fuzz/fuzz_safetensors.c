/* libFuzzer harness: a safetensors checkpoint (core/safetensors.h) opened and
 * every tensor read through the conversion a loader would use. */
#include <stdlib.h>

#include "core/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SafetensorsFile f;
    if (safetensors_open(&f, fuzz_input_file(data, size, "st", 0)) != 0) return 0;
    (void)safetensors_meta_get(&f, "format");
    for (int i = 0; i < f.count; i++) {
        const StTensorInfo *t = &f.tensors[i];
        if (safetensors_find(&f, t->name) == NULL) abort(); /* a validated name must be found */
        if (t->numel > (1 << 20)) continue;                 /* the file holds the bytes: sizes are checked */
        size_t n = (size_t)t->numel ? (size_t)t->numel : 1;
        if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) {
            float *out = malloc(n * sizeof *out);
            (void)safetensors_read_f32(&f, t, out, t->numel);
            free(out);
        } else {
            int64_t *out = malloc(n * sizeof *out);
            (void)safetensors_read_i64(&f, t, out, t->numel);
            (void)safetensors_read_i32(&f, t, (int32_t *)out, t->numel);
            free(out);
        }
    }
    safetensors_close(&f);
    return 0;
}
