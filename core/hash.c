#include "core/hash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

uint64_t hash_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ULL;
    return h;
}

uint64_t hash_string(uint64_t h, const char *s) { return hash_bytes(h, s, strlen(s) + 1); }

int hash_file(uint64_t *h, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return error_set("%s: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) *h = hash_bytes(*h, buf, n);
    int bad = ferror(fp);
    fclose(fp);
    return bad ? error_set("%s: read failed", path) : 0;
}
