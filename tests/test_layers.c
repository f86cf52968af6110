/* The layering check run by `make test` (scripts/check_layers.sh, DESIGN.md
 * "Layers"): the repository passes it, and a planted upward include (core/
 * including models/) and a cuda/ include from models/ each fail it with the
 * file and line named, while a downward include passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tests/test.h"

/* Runs the script on root; its exit status, its output in out. */
static int run_check(const char *root, char *out, size_t size) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bash scripts/check_layers.sh %s 2>&1", root ? root : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(test_layers_repository_passes_and_planted_upward_includes_fail) {
    char out[4096], root[512], dir[600], path[700];
    ASSERT_MSG(run_check(NULL, out, sizeof out) == 0, "%s", out);
    ASSERT(strstr(out, "no include points up a layer") != NULL);

    test_tmp_path(root, sizeof root, "layers");
    const char *layers[] = {"core", "models", "programs"};
    mkdir(root, 0755);
    for (int k = 0; k < 3; k++) {
        snprintf(dir, sizeof dir, "%s/%s", root, layers[k]);
        mkdir(dir, 0755);
    }
    snprintf(path, sizeof path, "%s/models/down.c", root);
    write_file(path, "#include <stdio.h>\n#include \"core/tensor.h\"\n#include \"models/albef.h\"\n");
    snprintf(path, sizeof path, "%s/programs/main_x.c", root);
    write_file(path, "#include \"cuda/backend.h\"\n#include \"unlearn/loop.h\"\n");
    ASSERT_MSG(run_check(root, out, sizeof out) == 0, "%s", out); /* downward and programs' cuda/ are allowed */

    snprintf(path, sizeof path, "%s/core/up.c", root);
    write_file(path, "#include <stdlib.h>\n\n#include \"models/albef.h\"\n");
    snprintf(path, sizeof path, "%s/models/device.c", root);
    write_file(path, "#include \"cuda/backend.h\"\n");
    ASSERT_EQ_INT(run_check(root, out, sizeof out), 1);
    ASSERT_MSG(strstr(out, "core/up.c:3: core/ includes models/") != NULL, "%s", out);
    ASSERT_MSG(strstr(out, "models/device.c:1: models/ includes cuda/") != NULL, "%s", out);
    ASSERT(strstr(out, "down.c") == NULL && strstr(out, "main_x.c") == NULL);
}
