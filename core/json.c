#include "core/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"

cJSON *json_parse_text(const char *text, const char *origin) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (root) return root;
    /* cJSON reports where parsing stopped; turn the offset into line:column. */
    const char *at = end ? end : cJSON_GetErrorPtr();
    if (!at) at = text;
    int line = 1, col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char near[24] = {0};
    size_t k = 0;
    for (const char *p = at; *p && *p != '\n' && k < sizeof near - 1; p++) near[k++] = *p;
    error_set("%s: line %d, column %d: malformed JSON near \"%s\"", origin, line, col, near);
    return NULL;
}

cJSON *json_read_file(const char *path) {
    size_t size;
    char *text = file_read_all(path, &size);
    if (!text) return NULL;
    if (strlen(text) != size) {
        free(text);
        error_set("%s: contains a NUL byte: not a JSON text file", path);
        return NULL;
    }
    cJSON *root = json_parse_text(text, path);
    free(text);
    return root;
}

int json_write_file(const char *path, const cJSON *root) {
    char *text = cJSON_Print(root);
    if (!text) return error_set("%s: could not serialise JSON", path);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    text[n] = '\n';
    int rc = file_write_atomic(path, text, n + 1);
    free(text);
    return rc;
}

static const cJSON *field(const cJSON *obj, const char *name, const char *origin, const char *what) {
    if (!cJSON_IsObject(obj)) {
        error_set("%s: %s: is not a JSON object", origin, what);
        return NULL;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!f) error_set("%s: %s: field \"%s\" is missing", origin, what, name);
    return f;
}

int json_get_string(const cJSON *obj, const char *name, const char **out, const char *origin, const char *what) {
    const cJSON *f = field(obj, name, origin, what);
    if (!f) return -1;
    if (!cJSON_IsString(f)) return error_set("%s: %s: field \"%s\" is not a string", origin, what, name);
    *out = f->valuestring;
    return 0;
}

int json_get_number(const cJSON *obj, const char *name, double *out, const char *origin, const char *what) {
    const cJSON *f = field(obj, name, origin, what);
    if (!f) return -1;
    if (!cJSON_IsNumber(f)) return error_set("%s: %s: field \"%s\" is not a number", origin, what, name);
    *out = f->valuedouble;
    return 0;
}

int json_get_int(const cJSON *obj, const char *name, long long *out, const char *origin, const char *what) {
    double v = 0.0;
    if (json_get_number(obj, name, &v, origin, what) < 0) return -1;
    /* |v| < 2^63 first: converting a larger double to long long is undefined */
    if (!(v > -9223372036854775808.0 && v < 9223372036854775808.0) || v != floor(v))
        return error_set("%s: %s: field \"%s\" is not an integer in the 64-bit range", origin, what, name);
    *out = (long long)v;
    return 0;
}

int json_get_bool(const cJSON *obj, const char *name, int *out, const char *origin, const char *what) {
    const cJSON *f = field(obj, name, origin, what);
    if (!f) return -1;
    if (!cJSON_IsBool(f)) return error_set("%s: %s: field \"%s\" is not true/false", origin, what, name);
    *out = cJSON_IsTrue(f);
    return 0;
}

int json_get_array(const cJSON *obj, const char *name, const cJSON **out, const char *origin, const char *what) {
    const cJSON *f = field(obj, name, origin, what);
    if (!f) return -1;
    if (!cJSON_IsArray(f)) return error_set("%s: %s: field \"%s\" is not an array", origin, what, name);
    *out = f;
    return 0;
}
