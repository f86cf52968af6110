/* --task pgr through the run driver (programs/run_data_pgr.h), as a user runs
 * the programs: a missing or corrupt corpus file, a config of another model
 * and a PGR flag given to another task stop the program naming the file or
 * the flag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/fileio.h"
#include "tests/test.h"

static char *run_command(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, n = 0, got;
    char *out = malloc(cap);
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* The absolute path of bin/<name>, or NULL (the test fails) when it is not built. */
static const char *program(const char *name) {
    static char abs[1024];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin", name);
    if (!realpath(path, abs)) return NULL;
    return abs;
}

/* The first `rows` data rows of the shipped file `name` (header kept) into dir/name. */
static int write_slice(const char *dir, const char *name, int rows) {
    char src[512], dst[600];
    snprintf(src, sizeof src, "data/pgr_corpus/%s", name);
    char *text = file_read_all(src, NULL);
    if (!text) return -1;
    char *p = text;
    for (int k = 0; k <= rows && p; k++) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    size_t len = p ? (size_t)(p - text) : strlen(text);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    int rc = file_write_atomic(dst, text, len);
    free(text);
    return rc;
}

/* A corpus directory of 240 training and 60 test rows with the shipped vocabulary. */
static int write_corpus_slice(const char *dir) {
    if (make_dirs(dir) < 0 || write_slice(dir, "train.tsv", 240) < 0 || write_slice(dir, "test.tsv", 60) < 0)
        return -1;
    return write_slice(dir, "vocab.txt", 1 << 20);
}

TEST(test_pgr_programs_name_a_missing_or_corrupt_corpus_file_and_foreign_flags) {
    const char *train = program("train");
    ASSERT_MSG(train, "bin/train not built (make bin/train)");
    char absent[512], bad[512], out[512], cmd[4096], path[600];
    test_tmp_path(absent, sizeof absent, "pgr_prog_absent");
    test_tmp_path(bad, sizeof bad, "pgr_prog_corrupt");
    test_tmp_path(out, sizeof out, "pgr_prog_refused");
    int status;
    snprintf(cmd, sizeof cmd, "%s --task pgr --data %s --out %s 2>&1", train, absent, out);
    char *log = run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "pgr_prog_absent/train.tsv");
    free(log);

    /* test.tsv with an unknown label on its second data row (line 3) */
    ASSERT_MSG(write_corpus_slice(bad) == 0, "%s", error_message());
    snprintf(path, sizeof path, "%s/test.tsv", bad);
    char *test = file_read_all(path, NULL);
    ASSERT(test);
    char *row2 = strchr(strchr(test, '\n') + 1, '\n') + 1, *end = strchr(row2, '\n');
    char *tab = end;
    for (int k = 0; k < 2; k++) /* back to the tab before RELATION (CONFIRMATION is last) */
        for (tab--; *tab != '\t'; tab--) {}
    size_t n = strlen(test) + 8;
    char *edited = malloc(n);
    ASSERT(edited);
    snprintf(edited, n, "%.*s\tMaybe%s", (int)(tab - test), test, strchr(tab + 1, '\t'));
    free(test);
    test = edited;
    ASSERT(file_write_atomic(path, test, strlen(test)) == 0);
    free(test);
    snprintf(cmd, sizeof cmd, "%s --task pgr --data %s --out %s 2>&1", train, bad, out);
    log = run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "pgr_prog_corrupt/test.tsv: line 3");
    ASSERT_STR_CONTAINS(log, "Maybe");
    free(log);

    /* an image-text model config, a PGR flag on another task */
    snprintf(cmd, sizeof cmd, "%s --task pgr --model albef-tiny --data %s --out %s 2>&1", train, absent, out);
    log = run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "pgr-tiny or pgr-base");
    free(log);
    snprintf(cmd, sizeof cmd, "%s --task flickr30k --max-nodes 8 --out %s 2>&1", train, out);
    log = run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "--max-nodes: a flag of --task pgr");
    free(log);
}
