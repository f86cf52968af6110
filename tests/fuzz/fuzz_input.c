#include "tests/fuzz/fuzz_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char paths[2][256];

static void remove_inputs(void) {
    for (int k = 0; k < 2; k++)
        if (paths[k][0]) unlink(paths[k]);
}

const char *fuzz_input_file(const uint8_t *data, size_t size, const char *tag, int slot) {
    static int registered;
    if (!registered) registered = atexit(remove_inputs) == 0;
    char *path = paths[slot & 1];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof paths[0], "%s/mmu_fuzz_%d_%s", tmp && *tmp ? tmp : "/tmp", (int)getpid(), tag);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        abort(); /* the harness cannot run without its scratch file */
    }
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);
    return path;
}
