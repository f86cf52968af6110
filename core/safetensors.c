#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/json.h"

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_BOOL] = {"BOOL", 1},
};
#define DTYPE_COUNT ((int)(sizeof dtype_table / sizeof dtype_table[0]))

size_t st_dtype_size(StDType dt) {
    CHECK((int)dt >= 0 && (int)dt < DTYPE_COUNT, "dtype %d", (int)dt);
    return dtype_table[dt].size;
}

const char *st_dtype_name(StDType dt) {
    CHECK((int)dt >= 0 && (int)dt < DTYPE_COUNT, "dtype %d", (int)dt);
    return dtype_table[dt].name;
}

int st_dtype_parse(const char *name, StDType *out) {
    for (int k = 0; k < DTYPE_COUNT; k++) {
        if (strcmp(name, dtype_table[k].name) == 0) {
            *out = (StDType)k;
            return 0;
        }
    }
    return -1;
}

float st_bf16_to_f32(uint16_t bits) {
    uint32_t u = (uint32_t)bits << 16; /* bf16 is the top half of an f32 */
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

float st_f16_to_f32(uint16_t bits) {
    uint32_t sign = (uint32_t)(bits >> 15) << 31;
    uint32_t exp = (bits >> 10) & 0x1f;
    uint32_t mant = bits & 0x3ff;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (mant << 13); /* inf or NaN, payload kept */
    } else if (exp != 0) {
        u = sign | ((exp + 112) << 23) | (mant << 13); /* rebias 15 -> 127 */
    } else if (mant == 0) {
        u = sign; /* signed zero */
    } else {
        /* Subnormal: shift the mantissa up until its leading 1 is implicit. */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400));
        u = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- header validation ------------------------------------------------- */

/* A JSON number that is a non-negative integer exactly representable in a double. */
static int json_to_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || v != (double)(uint64_t)v) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_tensor_entry(const char *path, const cJSON *entry, StTensorInfo *t, size_t data_size) {
    const char *name = t->name;
    if (!cJSON_IsObject(entry)) return error_set("%s: tensor \"%s\": entry is not a JSON object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype)) return error_set("%s: tensor \"%s\": \"dtype\" is missing or not a string", path, name);
    if (st_dtype_parse(dtype->valuestring, &t->dtype) < 0)
        return error_set("%s: tensor \"%s\": unsupported dtype \"%s\" (expected F32, F16, BF16, I64, I32 or BOOL)",
                         path, name, dtype->valuestring);
    if (!cJSON_IsArray(shape)) return error_set("%s: tensor \"%s\": \"shape\" is missing or not an array", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return error_set("%s: tensor \"%s\": %d dimensions, at most %d supported", path, name, ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t dim;
        if (json_to_u64(cJSON_GetArrayItem(shape, d), &dim) < 0)
            return error_set("%s: tensor \"%s\": shape[%d] is not a non-negative integer", path, name, d);
        if (dim > 0 && numel > UINT64_MAX / dim)
            return error_set("%s: tensor \"%s\": shape overflows the element count", path, name);
        t->shape[d] = (int64_t)dim;
        numel *= dim;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_size(t->dtype), &nbytes) || numel > INT64_MAX)
        return error_set("%s: tensor \"%s\": shape overflows the byte count", path, name);
    t->numel = (int64_t)numel;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        json_to_u64(cJSON_GetArrayItem(offsets, 0), &t->begin) < 0 ||
        json_to_u64(cJSON_GetArrayItem(offsets, 1), &t->end) < 0)
        return error_set("%s: tensor \"%s\": \"data_offsets\" is not a pair of non-negative integers", path, name);
    if (t->begin > t->end)
        return error_set("%s: tensor \"%s\": data_offsets [%llu, %llu] begin after end", path, name,
                         (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return error_set("%s: tensor \"%s\": data_offsets [%llu, %llu] out of range of the %zu-byte data region "
                         "(truncated file?)",
                         path, name, (unsigned long long)t->begin, (unsigned long long)t->end, data_size);
    if (t->end - t->begin != nbytes)
        return error_set("%s: tensor \"%s\": data_offsets span %llu bytes but shape and dtype %s need %llu", path,
                         name, (unsigned long long)(t->end - t->begin), st_dtype_name(t->dtype),
                         (unsigned long long)nbytes);
    return 0;
}

static int parse_metadata(const char *path, const cJSON *meta, SafetensorsFile *f) {
    if (!cJSON_IsObject(meta)) return error_set("%s: __metadata__ is not a JSON object", path);
    int n = cJSON_GetArraySize(meta);
    f->meta = calloc((size_t)(n ? n : 1), sizeof *f->meta);
    CHECK(f->meta != NULL, "out of memory");
    const cJSON *item;
    cJSON_ArrayForEach(item, meta) {
        if (!cJSON_IsString(item))
            return error_set("%s: __metadata__: value of \"%s\" is not a string", path, item->string);
        StMetaEntry *e = &f->meta[f->meta_count++];
        e->key = strdup(item->string);
        e->value = strdup(item->valuestring);
        CHECK(e->key && e->value, "out of memory");
    }
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const StTensorInfo *x = *(const StTensorInfo *const *)a, *y = *(const StTensorInfo *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must tile the data region exactly, as the Hugging Face reader
 * demands: no two share a byte, no gap, nothing after the last one. */
static int check_layout(const char *path, SafetensorsFile *f) {
    const StTensorInfo **order = malloc((size_t)(f->count ? f->count : 1) * sizeof *order);
    CHECK(order != NULL, "out of memory");
    for (int k = 0; k < f->count; k++) order[k] = &f->tensors[k];
    qsort(order, (size_t)f->count, sizeof *order, by_begin);
    uint64_t at = 0;
    int rc = 0;
    for (int k = 0; k < f->count && rc == 0; k++) {
        const StTensorInfo *t = order[k];
        if (t->begin < at)
            rc = error_set("%s: tensor \"%s\": data_offsets [%llu, %llu] overlap tensor \"%s\" [%llu, %llu]", path,
                           t->name, (unsigned long long)t->begin, (unsigned long long)t->end, order[k - 1]->name,
                           (unsigned long long)order[k - 1]->begin, (unsigned long long)order[k - 1]->end);
        else if (t->begin > at)
            rc = error_set("%s: tensor \"%s\": data_offsets begin at %llu, leaving a gap after byte %llu", path,
                           t->name, (unsigned long long)t->begin, (unsigned long long)at);
        else
            at = t->end;
    }
    if (rc == 0 && at != f->data_size)
        rc = error_set("%s: the data region has %zu bytes but its tensors cover %llu", path, f->data_size,
                       (unsigned long long)at);
    free(order);
    return rc;
}

static int parse_header(const char *path, const char *text, SafetensorsFile *f) {
    char origin[4200];
    snprintf(origin, sizeof origin, "%s: header", path);
    cJSON *root = json_parse_text(text, origin);
    if (!root) return -1;
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = error_set("%s: header is not a JSON object", path);
        goto done;
    }
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)(n ? n : 1), sizeof *f->tensors);
    CHECK(f->tensors != NULL, "out of memory");
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (f->meta) {
                rc = error_set("%s: __metadata__ appears twice", path);
                break;
            }
            if ((rc = parse_metadata(path, item, f)) < 0) break;
            continue;
        }
        /* cJSON keeps duplicate keys; two tensors with one name would make the second unreachable. */
        if (safetensors_find(f, item->string)) {
            rc = error_set("%s: tensor \"%s\": name appears twice in the header", path, item->string);
            break;
        }
        StTensorInfo *t = &f->tensors[f->count++];
        t->name = strdup(item->string);
        CHECK(t->name != NULL, "out of memory");
        if ((rc = parse_tensor_entry(path, item, t, f->data_size)) < 0) break;
    }
    if (rc == 0) rc = check_layout(path, f);
done:
    cJSON_Delete(root);
    return rc;
}

int safetensors_open(SafetensorsFile *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    CHECK(f->path != NULL, "out of memory");
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        error_set("%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        error_set("%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        error_set("%s: %zu bytes, shorter than the 8-byte header length (truncated file?)", path, size);
        close(fd);
        goto fail;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        error_set("%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    f->map = map;
    f->map_size = size;
    uint64_t header_len = 0;
    for (int k = 7; k >= 0; k--) header_len = (header_len << 8) | f->map[k];
    if (header_len > ST_MAX_HEADER_BYTES) {
        error_set("%s: header length %llu exceeds the %u MiB limit (not a safetensors file?)", path,
                  (unsigned long long)header_len, ST_MAX_HEADER_BYTES >> 20);
        goto fail;
    }
    if (header_len > size - 8) {
        error_set("%s: header length %llu runs past the end of the %zu-byte file (truncated file?)", path,
                  (unsigned long long)header_len, size);
        goto fail;
    }
    f->data = f->map + 8 + header_len;
    f->data_size = size - 8 - header_len;
    char *text = malloc(header_len + 1);
    CHECK(text != NULL, "out of memory");
    memcpy(text, f->map + 8, header_len);
    text[header_len] = '\0';
    int rc;
    if (strlen(text) != header_len)
        rc = error_set("%s: header contains a NUL byte at offset %zu", path, strlen(text));
    else
        rc = parse_header(path, text, f);
    free(text);
    if (rc == 0) return 0;
fail:
    safetensors_close(f);
    return -1;
}

void safetensors_close(SafetensorsFile *f) {
    if (f->map) munmap((void *)f->map, f->map_size);
    for (int k = 0; k < f->count; k++) free(f->tensors[k].name);
    for (int k = 0; k < f->meta_count; k++) {
        free(f->meta[k].key);
        free(f->meta[k].value);
    }
    free(f->tensors);
    free(f->meta);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const StTensorInfo *safetensors_find(const SafetensorsFile *f, const char *name) {
    for (int k = 0; k < f->count; k++)
        if (f->tensors[k].name && strcmp(f->tensors[k].name, name) == 0) return &f->tensors[k];
    return NULL;
}

const char *safetensors_meta_get(const SafetensorsFile *f, const char *key) {
    for (int k = 0; k < f->meta_count; k++)
        if (strcmp(f->meta[k].key, key) == 0) return f->meta[k].value;
    return NULL;
}

const void *safetensors_bytes(const SafetensorsFile *f, const StTensorInfo *t) { return f->data + t->begin; }

/* ---- conversion into caller buffers ------------------------------------ */

static int check_count(const SafetensorsFile *f, const StTensorInfo *t, int64_t count) {
    if (count != t->numel)
        return error_set("%s: tensor \"%s\": holds %lld elements, the destination %lld", f->path, t->name,
                         (long long)t->numel, (long long)count);
    return 0;
}

int safetensors_read_f32(const SafetensorsFile *f, const StTensorInfo *t, float *out, int64_t count) {
    if (check_count(f, t, count) < 0) return -1;
    const unsigned char *src = safetensors_bytes(f, t);
    switch (t->dtype) {
    case ST_F32: memcpy(out, src, (size_t)count * 4); return 0;
    case ST_BF16:
    case ST_F16:
        for (int64_t k = 0; k < count; k++) {
            uint16_t bits;
            memcpy(&bits, src + 2 * k, 2);
            out[k] = t->dtype == ST_BF16 ? st_bf16_to_f32(bits) : st_f16_to_f32(bits);
        }
        return 0;
    default:
        return error_set("%s: tensor \"%s\": dtype %s is not a float type", f->path, t->name, st_dtype_name(t->dtype));
    }
}

/* Element k of an integer or BOOL tensor, widened; -1 on a BOOL byte other than 0/1. */
static int int_element(const StTensorInfo *t, const unsigned char *src, int64_t k, int64_t *v) {
    switch (t->dtype) {
    case ST_I64: memcpy(v, src + 8 * k, 8); return 0;
    case ST_I32: {
        int32_t w;
        memcpy(&w, src + 4 * k, 4);
        *v = w;
        return 0;
    }
    case ST_BOOL: *v = src[k]; return src[k] <= 1 ? 0 : -1;
    default: CHECK(0, "not an integer dtype"); return -1;
    }
}

static int check_int_dtype(const SafetensorsFile *f, const StTensorInfo *t) {
    if (t->dtype == ST_I64 || t->dtype == ST_I32 || t->dtype == ST_BOOL) return 0;
    return error_set("%s: tensor \"%s\": dtype %s is not an integer type", f->path, t->name, st_dtype_name(t->dtype));
}

int safetensors_read_i64(const SafetensorsFile *f, const StTensorInfo *t, int64_t *out, int64_t count) {
    if (check_count(f, t, count) < 0 || check_int_dtype(f, t) < 0) return -1;
    const unsigned char *src = safetensors_bytes(f, t);
    for (int64_t k = 0; k < count; k++)
        if (int_element(t, src, k, &out[k]) < 0)
            return error_set("%s: tensor \"%s\": element %lld: BOOL byte %d is not 0 or 1", f->path, t->name,
                             (long long)k, src[k]);
    return 0;
}

int safetensors_read_i32(const SafetensorsFile *f, const StTensorInfo *t, int32_t *out, int64_t count) {
    if (check_count(f, t, count) < 0 || check_int_dtype(f, t) < 0) return -1;
    const unsigned char *src = safetensors_bytes(f, t);
    for (int64_t k = 0; k < count; k++) {
        int64_t v;
        if (int_element(t, src, k, &v) < 0)
            return error_set("%s: tensor \"%s\": element %lld: BOOL byte %d is not 0 or 1", f->path, t->name,
                             (long long)k, src[k]);
        if (v < INT32_MIN || v > INT32_MAX)
            return error_set("%s: tensor \"%s\": element %lld: %lld does not fit in int32", f->path, t->name,
                             (long long)k, (long long)v);
        out[k] = (int32_t)v;
    }
    return 0;
}
