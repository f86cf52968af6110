/* libFuzzer harness: the PGR corpus TSV and knowledge-graph edge list
 * (data/pgr.h), the last byte choosing the reader. Resolved mention offsets
 * must lie inside their sentence. */
#include <stdlib.h>
#include <string.h>

#include "data/pgr.h"
#include "tests/fuzz/fuzz_input.h"

static void check_span(const char *sentence, int start, int end) {
    if (start == -1 && end == -1) return;
    if (start < 0 || end < start || (size_t)end > strlen(sentence)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fuzz_input_file(data, size - 1, "pgr.tsv", 0);
    if (data[size - 1] & 1) {
        PgrEdgeList e;
        if (pgr_read_edges(path, &e) == 0) pgr_edges_free(&e);
        return 0;
    }
    PgrTable t;
    if (pgr_read_tsv(path, &t) != 0) return 0;
    for (int64_t i = 0; i < t.n; i++) {
        check_span(t.rows[i].sentence, t.rows[i].gene_start, t.rows[i].gene_end);
        check_span(t.rows[i].sentence, t.rows[i].phen_start, t.rows[i].phen_end);
    }
    pgr_table_free(&t);
    return 0;
}
