/* Run directories: a run becomes visible only when complete, a killed run
 * leaves the previous one whole, a second writer is locked out, and a request
 * matches an existing run only when the configurations are equal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "core/json.h"
#include "core/run_dir.h"
#include "tests/test.h"

static int holds(const char *path, const char *text) {
    size_t n;
    char *got = file_read_all(path, &n);
    int same = got && n == strlen(text) && memcmp(got, text, n) == 0;
    free(got);
    return same;
}

static int write_text(const RunDir *d, const char *name, const char *text) {
    char path[4300];
    return file_write_atomic(run_dir_file(d, name, path, sizeof path), text, strlen(text));
}

TEST(test_run_dir_commit_replaces_the_old_run_only_when_complete) {
    char out[512], path[700];
    test_tmp_path(out, sizeof out, "runs/a");
    RunDir d;
    ASSERT_MSG(run_dir_begin(&d, out, 0) == 0, "%s", error_message());
    ASSERT(write_text(&d, "config.json", "{\"seed\": 1}\n") == 0 && write_text(&d, "metrics.json", "{}\n") == 0);
    snprintf(path, sizeof path, "%s/config.json", out);
    ASSERT(!file_exists(path)); /* nothing visible before the commit */
    ASSERT_MSG(run_dir_commit(&d) == 0, "%s", error_message());
    ASSERT(holds(path, "{\"seed\": 1}\n"));

    /* a second run that dies after writing its config: the first stays whole */
    ASSERT_MSG(run_dir_begin(&d, out, 0) == 0, "%s", error_message());
    ASSERT(write_text(&d, "config.json", "{\"seed\": 2}\n") == 0);
    run_dir_release(&d); /* killed: no commit */
    ASSERT(holds(path, "{\"seed\": 1}\n"));
    snprintf(path, sizeof path, "%s/metrics.json", out);
    ASSERT(file_exists(path));

    /* the next run starts from an empty work folder and replaces the first */
    ASSERT_MSG(run_dir_begin(&d, out, 0) == 0, "%s", error_message());
    char stale[4300];
    ASSERT(!file_exists(run_dir_file(&d, "config.json", stale, sizeof stale)));
    ASSERT(write_text(&d, "config.json", "{\"seed\": 3}\n") == 0);
    ASSERT_MSG(run_dir_commit(&d) == 0, "%s", error_message());
    ASSERT(!file_exists(path)); /* the old run's metrics went with it */
    snprintf(path, sizeof path, "%s/config.json", out);
    ASSERT(holds(path, "{\"seed\": 3}\n"));
}

TEST(test_run_dir_second_writer_is_locked_out) {
    char out[512];
    test_tmp_path(out, sizeof out, "runs/locked");
    RunDir first, second;
    ASSERT_MSG(run_dir_begin(&first, out, 0) == 0, "%s", error_message());
    ASSERT(run_dir_begin(&second, out, 0) == -1);
    ASSERT_STR_CONTAINS(error_message(), "runs/locked: another run is writing this directory (pid ");
    ASSERT(write_text(&first, "config.json", "{}\n") == 0); /* the first one's files are untouched */
    ASSERT_MSG(run_dir_commit(&first) == 0, "%s", error_message());
    ASSERT_MSG(run_dir_begin(&second, out, 0) == 0, "%s", error_message()); /* free again */
    run_dir_release(&second);
}

TEST(test_run_dir_resume_keeps_the_partial_folder_and_configs_compare) {
    char out[512];
    test_tmp_path(out, sizeof out, "runs/resume/");
    RunDir d;
    ASSERT_MSG(run_dir_begin(&d, out, 0) == 0, "%s", error_message());
    ASSERT(write_text(&d, "config.json", "{\"seed\": 1, \"lr\": 0.5}\n") == 0);
    run_dir_release(&d);
    ASSERT_MSG(run_dir_begin(&d, out, 1) == 0, "%s", error_message());
    cJSON *want = json_parse_text("{\"lr\": 0.5, \"seed\": 1}", "want");
    ASSERT_EQ_INT(run_dir_config_matches(d.work, want), 1); /* key order does not matter */
    cJSON_ReplaceItemInObject(want, "seed", cJSON_CreateNumber(2));
    ASSERT_EQ_INT(run_dir_config_matches(d.work, want), 0);
    ASSERT_EQ_INT(run_dir_config_matches(d.out, want), 0); /* no complete run yet */
    cJSON_Delete(want);
    ASSERT_MSG(run_dir_commit(&d) == 0, "%s", error_message());
}

TEST(test_file_fnv1a_detects_a_changed_byte) {
    char path[512];
    test_tmp_path(path, sizeof path, "hash_me.bin");
    ASSERT(file_write_atomic(path, "abcdef", 6) == 0);
    uint64_t a = FNV1A_INIT, b = FNV1A_INIT;
    ASSERT(file_fnv1a(&a, path) == 0);
    ASSERT(a == fnv1a_bytes(FNV1A_INIT, "abcdef", 6));
    ASSERT(file_write_atomic(path, "abcdeF", 6) == 0);
    ASSERT(file_fnv1a(&b, path) == 0);
    ASSERT(a != b);
    test_tmp_path(path, sizeof path, "no_such_file");
    ASSERT(file_fnv1a(&a, path) == -1);
    ASSERT_STR_CONTAINS(error_message(), "no_such_file: No such file");
}

TEST(test_file_checksum_tells_a_damaged_or_unsealed_file) {
    char path[512], sum[600];
    test_tmp_path(path, sizeof path, "entry.safetensors");
    snprintf(sum, sizeof sum, "%s.fnv1a", path);
    ASSERT(file_write_atomic(path, "0123456789", 10) == 0);
    ASSERT_EQ_INT(file_checksum_ok(path), 0); /* written but never sealed: an unfinished entry */
    ASSERT(file_checksum_write(path) == 0);
    ASSERT_EQ_INT(file_checksum_ok(path), 1);
    ASSERT(file_write_atomic(path, "0123456780", 10) == 0); /* one byte damaged */
    ASSERT_EQ_INT(file_checksum_ok(path), 0);
    ASSERT(file_write_atomic(path, "01234", 5) == 0); /* truncated */
    ASSERT_EQ_INT(file_checksum_ok(path), 0);
    ASSERT(file_checksum_write(path) == 0);
    ASSERT_EQ_INT(file_checksum_ok(path), 1);
    ASSERT(file_write_atomic(sum, "garbage\n", 8) == 0);
    ASSERT_EQ_INT(file_checksum_ok(path), 0);
}
