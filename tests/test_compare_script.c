/* scripts/compare_methods.sh --help prints its usage and runs nothing: no
 * program starts, no run directory appears (every other argument goes to all
 * fourteen programs, so --help must not). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/fileio.h"
#include "tests/test.h"

TEST(test_compare_script_help_prints_usage_and_runs_nothing) {
    char out_dir[512], cmd[2048], buf[8192];
    test_tmp_path(out_dir, sizeof out_dir, "compare_help_runs");
    snprintf(cmd, sizeof cmd, "OUT=%s scripts/compare_methods.sh --seed 3 --help 2>&1", out_dir);
    FILE *p = popen(cmd, "r");
    ASSERT(p);
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, buf);
    ASSERT_STR_CONTAINS(buf, "usage: scripts/compare_methods.sh");
    ASSERT(strstr(buf, "== retrain") == NULL);
    ASSERT(!file_exists(out_dir));
}
