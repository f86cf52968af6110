/* libFuzzer harness: a model config JSON (models/model_config.h) loaded and
 * validated; a config that passes must describe a model whose sizes fit. */
#include <stdlib.h>

#include "models/model_config.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ModelConfig c;
    if (model_config_load(&c, fuzz_input_file(data, size, "config.json", 0)) != 0) return 0;
    (void)model_config_image_tokens(&c);
    (void)model_config_alpha_at(&c, 1, 3, 7);
    cJSON *echo = model_config_to_json(&c);
    cJSON_Delete(echo);
    return 0;
}
