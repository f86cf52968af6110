/* The small helpers every layer used to copy: allocation that stops the
 * program when memory runs out (a training run cannot go on without it), the
 * FNV-1a hash (cache keys, names, recognising a parameter set), and the
 * qsort comparison of int64 indices. */
#ifndef CORE_XALLOC_H
#define CORE_XALLOC_H

#include <stddef.h>
#include <stdint.h>

/* malloc/calloc that never return NULL (0 bytes allocate 1); the message names the size. */
void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);
/* realloc that never returns NULL (0 bytes keep 1). */
void *xrealloc(void *p, size_t bytes);

#define FNV1A_INIT 1469598103934665603ULL
/* FNV-1a of n bytes continuing from h (start from FNV1A_INIT). */
uint64_t fnv1a_bytes(uint64_t h, const void *data, size_t n);
/* The same over a NUL-terminated string. */
uint64_t fnv1a_str(uint64_t h, const char *s);

/* qsort order of int64_t values, ascending. */
int cmp_i64(const void *a, const void *b);

#endif
