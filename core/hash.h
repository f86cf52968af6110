/* FNV-1a, 64-bit: the project's one non-cryptographic hash, for cache keys
 * and checksums of files this project wrote itself (it detects corruption,
 * not tampering). */
#ifndef CORE_HASH_H
#define CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_BASIS 1469598103934665603ULL

/* Continues hash h over n bytes. */
uint64_t hash_bytes(uint64_t h, const void *data, size_t n);
/* Continues h over a NUL-terminated string and its terminator (so "ab","c"
 * and "a","bc" differ). */
uint64_t hash_string(uint64_t h, const char *s);
/* Continues h over the whole content of a file; -1 with error_set when it
 * cannot be read. */
int hash_file(uint64_t *h, const char *path);

#endif
