#include "data/flickr30k_ann.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/log.h"
#include "data/unicode.h"

cJSON *ann_read_array(const char *path) {
    size_t size = 0;
    char *text = file_read_all(path, &size);
    if (!text) return NULL;
    size_t k = 0;
    while (k < size && (text[k] == ' ' || text[k] == '\n' || text[k] == '\r' || text[k] == '\t')) k++;
    if (k == size) {
        free(text);
        error_set("%s: empty file: expected a JSON array of records", path);
        return NULL;
    }
    if (strlen(text) != size) {
        free(text);
        error_set("%s: contains a NUL byte: not a JSON text file", path);
        return NULL;
    }
    cJSON *root = json_parse_text(text, path);
    free(text);
    if (!root) return NULL;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        error_set("%s: top level is not a JSON array of records", path);
        return NULL;
    }
    if (cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        error_set("%s: empty: the array holds no records", path);
        return NULL;
    }
    long long i = 0;
    for (const cJSON *r = root->child; r; r = r->next, i++) {
        if (!cJSON_IsObject(r)) {
            cJSON_Delete(root);
            error_set("%s: record %lld: is not a JSON object", path, i);
            return NULL;
        }
    }
    return root;
}

void ann_count_utf8(AnnUtf8Count *c, const char *text, long long record) {
    if (utf8_valid(text, strlen(text))) return;
    if (c->n++ == 0) c->first_record = record;
}

void ann_log_utf8(const AnnUtf8Count *c, const char *origin) {
    if (c->n > 0)
        log_warn("%s: %lld text(s) hold invalid UTF-8 (first in record %lld): the bad bytes are dropped", origin,
                 (long long)c->n, c->first_record);
}

char *ann_join_path(const char *root, const char *rel, const char *suffix) {
    if (rel[0] == '/') root = NULL; /* an absolute path stands as it is (Python's os.path.join, as LAVIS joins) */
    const char *sep = (root && root[0] && root[strlen(root) - 1] != '/') ? "/" : "";
    const char *r = root ? root : "";
    size_t n = strlen(r) + strlen(sep) + strlen(rel) + strlen(suffix) + 1;
    char *out = malloc(n);
    CHECK(out, "out of memory");
    snprintf(out, n, "%s%s%s%s", r, sep, rel, suffix);
    return out;
}

int ann_check_image(const char *image_path, const char *origin, long long record) {
    if (file_exists(image_path)) return 0;
    return error_set("%s: record %lld: image file \"%s\" does not exist", origin, record, image_path);
}

char *ann_get_id(const cJSON *obj, const char *name, const char *origin, const char *what) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!f) {
        error_set("%s: %s: field \"%s\" is missing", origin, what, name);
        return NULL;
    }
    char buf[64];
    if (cJSON_IsString(f)) {
        if (!f->valuestring[0]) {
            error_set("%s: %s: field \"%s\" is an empty string", origin, what, name);
            return NULL;
        }
        return strdup(f->valuestring);
    }
    if (cJSON_IsNumber(f) && f->valuedouble == (double)(long long)f->valuedouble) {
        snprintf(buf, sizeof buf, "%lld", (long long)f->valuedouble);
        return strdup(buf);
    }
    error_set("%s: %s: field \"%s\" is not a string or an integer", origin, what, name);
    return NULL;
}
