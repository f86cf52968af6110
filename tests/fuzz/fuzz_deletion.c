/* libFuzzer harness: a deletion list (data/deletion.h) read with k taken from
 * the first byte, then split against a fixed set of training keys. */
#include <stdlib.h>

#include "data/deletion.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const keys[] = {"1000092795.jpg", "10002456.jpg", "a", "b", "('l.png', 'r.png')", "7", ""};
    int64_t k = (int64_t)data[0] - 8; /* -8..247: invalid k too */
    DeletionList list;
    if (deletion_list_read(fuzz_input_file(data + 1, size - 1, "df_list.txt", 0), k, &list) != 0) return 0;
    if (list.n < 1 || list.n > k) abort();
    DeletionSplit split;
    if (deletion_split(&list, keys, (int64_t)(sizeof keys / sizeof keys[0]), data[0] & 1, &split) == 0) {
        if (split.n_df + split.n_dr != (int64_t)(sizeof keys / sizeof keys[0])) abort();
        deletion_split_free(&split);
    }
    deletion_list_free(&list);
    return 0;
}
