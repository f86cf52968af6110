/* The safetensors writer (declared in core/safetensors.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/safetensors.h"

/* A growing text buffer for the header. */
typedef struct {
    char *text;
    size_t len, cap;
} Text;

static void text_append(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_append(Text *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->text ? t->text + t->len : NULL, room, fmt, ap);
        va_end(ap);
        CHECK(n >= 0, "format error");
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->text = realloc(t->text, t->cap);
        CHECK(t->text != NULL, "out of memory");
    }
}

/* A JSON string literal: quotes, backslashes and control characters escaped,
 * other bytes (UTF-8) as they are, as serde_json writes them. */
static void text_append_json_string(Text *t, const char *s) {
    text_append(t, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': text_append(t, "\\\""); break;
        case '\\': text_append(t, "\\\\"); break;
        case '\n': text_append(t, "\\n"); break;
        case '\r': text_append(t, "\\r"); break;
        case '\t': text_append(t, "\\t"); break;
        case '\b': text_append(t, "\\b"); break;
        case '\f': text_append(t, "\\f"); break;
        default:
            if (*p < 0x20)
                text_append(t, "\\u%04x", *p);
            else
                text_append(t, "%c", *p);
        }
    }
    text_append(t, "\"");
}

/* The Hugging Face writer sorts tensors by its Dtype enum, descending, then
 * by name; for our dtypes that enum order is BOOL < F16 < BF16 < I32 < F32 < I64.
 * Wider types first keep every tensor aligned to its element size. */
static int writer_rank(StDType dt) {
    switch (dt) {
    case ST_BOOL: return 0;
    case ST_F16: return 1;
    case ST_BF16: return 2;
    case ST_I32: return 3;
    case ST_F32: return 4;
    case ST_I64: return 5;
    }
    return -1;
}

static int by_rank_then_name(const void *a, const void *b) {
    const StWriteTensor *x = *(const StWriteTensor *const *)a, *y = *(const StWriteTensor *const *)b;
    int rx = writer_rank(x->dtype), ry = writer_rank(y->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(const StMetaEntry *const *)a)->key, (*(const StMetaEntry *const *)b)->key);
}

static uint64_t write_nbytes(const StWriteTensor *t) {
    uint64_t n = st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n;
}

static int check_inputs(const char *path, const StWriteTensor *const *order, int count,
                        const StMetaEntry *const *meta, int meta_count) {
    for (int k = 0; k < count; k++) {
        const StWriteTensor *t = order[k];
        if (!t->name || !t->name[0]) return error_set("%s: tensor %d has an empty name", path, k);
        if (strcmp(t->name, "__metadata__") == 0) return error_set("%s: \"__metadata__\" is not a tensor name", path);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return error_set("%s: tensor \"%s\": %d dimensions", path, t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0) return error_set("%s: tensor \"%s\": negative shape[%d]", path, t->name, d);
        /* Sorted, so equal names are neighbours unless their dtypes differ. */
        for (int j = 0; j < k; j++)
            if (strcmp(order[j]->name, t->name) == 0)
                return error_set("%s: tensor \"%s\": name given twice", path, t->name);
    }
    for (int k = 1; k < meta_count; k++)
        if (strcmp(meta[k - 1]->key, meta[k]->key) == 0)
            return error_set("%s: __metadata__ key \"%s\" given twice", path, meta[k]->key);
    return 0;
}

static void build_header(Text *h, const StWriteTensor *const *order, int count, const StMetaEntry *const *meta,
                         int meta_count) {
    text_append(h, "{");
    if (meta_count > 0) {
        text_append(h, "\"__metadata__\":{");
        for (int k = 0; k < meta_count; k++) {
            if (k) text_append(h, ",");
            text_append_json_string(h, meta[k]->key);
            text_append(h, ":");
            text_append_json_string(h, meta[k]->value);
        }
        text_append(h, "}");
    }
    uint64_t offset = 0;
    for (int k = 0; k < count; k++) {
        const StWriteTensor *t = order[k];
        if (k || meta_count > 0) text_append(h, ",");
        text_append_json_string(h, t->name);
        text_append(h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) text_append(h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        uint64_t end = offset + write_nbytes(t);
        text_append(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset, (unsigned long long)end);
        offset = end;
    }
    text_append(h, "}");
    /* Spaces up to a multiple of 8, so the data region starts 8-byte aligned. */
    while (h->len % 8) text_append(h, " ");
}

int safetensors_write(const char *path, const StWriteTensor *tensors, int count, const StMetaEntry *meta,
                      int meta_count) {
    const StWriteTensor **order = malloc((size_t)(count > 0 ? count : 1) * sizeof *order);
    const StMetaEntry **meta_order = malloc((size_t)(meta_count > 0 ? meta_count : 1) * sizeof *meta_order);
    CHECK(order && meta_order, "out of memory");
    for (int k = 0; k < count; k++) order[k] = &tensors[k];
    for (int k = 0; k < meta_count; k++) meta_order[k] = &meta[k];
    Text header = {0};
    int rc = 0;
    for (int k = 0; k < count && rc == 0; k++)
        if (!tensors[k].name) rc = error_set("%s: tensor %d has no name", path, k);
    if (rc == 0) {
        qsort(order, (size_t)count, sizeof *order, by_rank_then_name);
        qsort(meta_order, (size_t)meta_count, sizeof *meta_order, by_key);
        rc = check_inputs(path, order, count, meta_order, meta_count);
    }
    AtomicFile out;
    if (rc == 0) {
        build_header(&header, order, count, meta_order, meta_count);
        rc = atomic_open(&out, path);
    }
    if (rc == 0) {
        unsigned char len_bytes[8];
        for (int k = 0; k < 8; k++) len_bytes[k] = (unsigned char)((uint64_t)header.len >> (8 * k));
        int ok = fwrite(len_bytes, 1, 8, out.fp) == 8 && fwrite(header.text, 1, header.len, out.fp) == header.len;
        for (int k = 0; k < count && ok; k++) {
            size_t n = (size_t)write_nbytes(order[k]);
            ok = n == 0 || fwrite(order[k]->data, 1, n, out.fp) == n;
        }
        rc = ok ? atomic_commit(&out) : atomic_fail(&out);
    }
    free(header.text);
    free(order);
    free(meta_order);
    return rc;
}
