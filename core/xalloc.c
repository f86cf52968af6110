#include "core/xalloc.h"

#include <stdlib.h>

#include "core/error.h"

void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    CHECK(p != NULL, "out of memory (%zu bytes)", bytes);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    CHECK(p != NULL, "out of memory (%zu x %zu bytes)", count, size);
    return p;
}

void *xrealloc(void *p, size_t bytes) {
    p = realloc(p, bytes ? bytes : 1);
    CHECK(p != NULL, "out of memory (%zu bytes)", bytes);
    return p;
}

uint64_t fnv1a_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
    return h;
}

uint64_t fnv1a_str(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}
