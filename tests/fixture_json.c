#include "tests/fixture_json.h"

#include <stdlib.h>

double *fixture_json_flat(const cJSON *arr, int *count) {
    int n = 0;
    const cJSON *e, *f;
    cJSON_ArrayForEach(e, arr) n += cJSON_IsArray(e) ? cJSON_GetArraySize(e) : 1;
    double *out = malloc((size_t)(n > 0 ? n : 1) * sizeof *out);
    int k = 0;
    cJSON_ArrayForEach(e, arr) {
        if (cJSON_IsArray(e)) {
            cJSON_ArrayForEach(f, e) out[k++] = f->valuedouble;
        } else {
            out[k++] = e->valuedouble;
        }
    }
    *count = n;
    return out;
}
