/* KeyIndex: string keys -> dense indices 0..n-1 in order of first insertion.
 *
 * Deletion works on string keys (an image id, an NLVR2 image-pair key; see
 * spec/unlearning_methods.md §1.1), and the dataset readers need the same map
 * to give images dense indices in order of first appearance (spec/albef_blip.md
 * §6.1) and to detect duplicate ids. One small open-addressing table serves both. */
#ifndef DATA_DELETION_KEYS_H
#define DATA_DELETION_KEYS_H

#include <stdint.h>

typedef struct {
    char **keys;    /* owned copies, index order */
    int64_t n;      /* number of keys */
    int64_t cap;    /* capacity of keys[] */
    int64_t *slots; /* hash table of indices, -1 = empty */
    int64_t n_slots;
} KeyIndex;

void keyindex_init(KeyIndex *ki);
void keyindex_free(KeyIndex *ki);
/* Index of `key`, or -1 when absent. */
int64_t keyindex_find(const KeyIndex *ki, const char *key);
/* Index of `key`, inserting a copy when absent; *added (may be NULL) says which. */
int64_t keyindex_add(KeyIndex *ki, const char *key, int *added);

#endif
