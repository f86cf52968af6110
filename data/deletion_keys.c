#include "data/deletion_keys.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/xalloc.h"

/* FNV-1a: simple, and good enough for ids and file names. */
static uint64_t hash_str(const char *s) { return fnv1a_str(FNV1A_INIT, s); }

void keyindex_init(KeyIndex *ki) { memset(ki, 0, sizeof *ki); }

void keyindex_free(KeyIndex *ki) {
    for (int64_t i = 0; i < ki->n; i++) free(ki->keys[i]);
    free(ki->keys);
    free(ki->slots);
    memset(ki, 0, sizeof *ki);
}

int64_t keyindex_find(const KeyIndex *ki, const char *key) {
    if (ki->n_slots == 0) return -1;
    uint64_t mask = (uint64_t)ki->n_slots - 1;
    for (uint64_t s = hash_str(key) & mask;; s = (s + 1) & mask) {
        int64_t i = ki->slots[s];
        if (i < 0) return -1;
        if (strcmp(ki->keys[i], key) == 0) return i;
    }
}

static void rehash(KeyIndex *ki, int64_t n_slots) {
    free(ki->slots);
    ki->slots = malloc((size_t)n_slots * sizeof *ki->slots);
    CHECK(ki->slots, "out of memory");
    for (int64_t s = 0; s < n_slots; s++) ki->slots[s] = -1;
    ki->n_slots = n_slots;
    uint64_t mask = (uint64_t)n_slots - 1;
    for (int64_t i = 0; i < ki->n; i++) {
        uint64_t s = hash_str(ki->keys[i]) & mask;
        while (ki->slots[s] >= 0) s = (s + 1) & mask;
        ki->slots[s] = i;
    }
}

int64_t keyindex_add(KeyIndex *ki, const char *key, int *added) {
    int64_t found = keyindex_find(ki, key);
    if (added) *added = found < 0;
    if (found >= 0) return found;
    if (ki->n == ki->cap) {
        ki->cap = ki->cap ? 2 * ki->cap : 64;
        ki->keys = realloc(ki->keys, (size_t)ki->cap * sizeof *ki->keys);
        CHECK(ki->keys, "out of memory");
    }
    ki->keys[ki->n] = strdup(key);
    CHECK(ki->keys[ki->n], "out of memory");
    ki->n++;
    /* Load factor at most 1/2 keeps probes short. */
    if (2 * ki->n > ki->n_slots) {
        rehash(ki, ki->n_slots ? 2 * ki->n_slots : 128);
    } else {
        uint64_t mask = (uint64_t)ki->n_slots - 1;
        uint64_t s = hash_str(key) & mask;
        while (ki->slots[s] >= 0) s = (s + 1) & mask;
        ki->slots[s] = ki->n - 1;
    }
    return ki->n - 1;
}
