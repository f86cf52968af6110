/* File helpers: atomic writes leave no temporary file, and a failed write
 * leaves the previous file as it was. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "tests/test.h"

/* Number of entries in `dir` other than . and .. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int file_holds(const char *path, const char *text) {
    size_t size;
    char *got = file_read_all(path, &size);
    int same = got && size == strlen(text) && memcmp(got, text, size) == 0;
    free(got);
    return same;
}

TEST(test_fileio_atomic_write_replaces_file_and_leaves_no_temp) {
    char dir[512], path[600];
    test_tmp_path(dir, sizeof dir, "atomic");
    ASSERT(make_dirs(dir) == 0);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    ASSERT(file_write_atomic(path, "first", 5) == 0);
    ASSERT(file_write_atomic(path, "second!", 7) == 0);
    ASSERT(file_holds(path, "second!"));
    ASSERT_EQ_INT(count_entries(dir), 1);
}

TEST(test_fileio_aborted_stream_leaves_old_file_and_no_temp) {
    char dir[512], path[600];
    test_tmp_path(dir, sizeof dir, "abort");
    ASSERT(make_dirs(dir) == 0);
    snprintf(path, sizeof path, "%s/ckpt", dir);
    ASSERT(file_write_atomic(path, "old", 3) == 0);
    AtomicFile f;
    ASSERT(atomic_open(&f, path) == 0);
    fputs("half a new fi", f.fp);
    fflush(f.fp);
    ASSERT(file_holds(path, "old")); /* until the commit, readers see the old file */
    atomic_abort(&f);
    ASSERT(file_holds(path, "old"));
    ASSERT_EQ_INT(count_entries(dir), 1);
}

TEST(test_fileio_failed_write_keeps_old_file) {
    /* A real write failure: the file-size limit makes write() fail with EFBIG
     * (SIGXFSZ ignored), as a full disk would. */
    char dir[512], path[600];
    test_tmp_path(dir, sizeof dir, "efbig");
    ASSERT(make_dirs(dir) == 0);
    snprintf(path, sizeof path, "%s/ckpt", dir);
    ASSERT(file_write_atomic(path, "old", 3) == 0);
    size_t big = 1 << 20;
    char *data = calloc(1, big);
    struct rlimit saved, small;
    ASSERT(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    small = saved;
    small.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
    int rc = file_write_atomic(path, data, big);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    free(data);
    ASSERT(rc < 0);
    ASSERT_STR_CONTAINS(error_message(), "write failed: File too large"); /* the reason, from errno */
    ASSERT(file_holds(path, "old"));
    ASSERT_EQ_INT(count_entries(dir), 1);
}

TEST(test_fileio_read_all_reads_a_pipe_to_its_end) {
    /* no size to ask for: read until end of file */
    int fds[2];
    ASSERT(pipe(fds) == 0);
    char text[100000];
    for (size_t k = 0; k < sizeof text; k++) text[k] = (char)('a' + k % 26);
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        close(fds[0]);
        size_t done = 0;
        while (done < sizeof text) {
            ssize_t n = write(fds[1], text + done, sizeof text - done);
            if (n <= 0) _exit(1);
            done += (size_t)n;
        }
        _exit(0);
    }
    close(fds[1]);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
    size_t size = 0;
    char *got = file_read_all(path, &size);
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_MSG(got != NULL, "%s", error_message());
    ASSERT_EQ_INT(size, sizeof text);
    int same = memcmp(got, text, sizeof text) == 0 && got[size] == '\0';
    free(got);
    ASSERT(same);
}

TEST(test_fileio_read_all_and_make_dirs_report_path) {
    char path[512];
    test_tmp_path(path, sizeof path, "no/such/file");
    ASSERT(file_read_all(path, NULL) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "no/such/file: No such file");
    /* a directory opens and seeks on Linux; its "size" must not be trusted */
    ASSERT(file_read_all(test_tmp_dir(), NULL) == NULL);
    ASSERT_STR_CONTAINS(error_message(), ": is a directory, not a file");
    char nested[512];
    test_tmp_path(nested, sizeof nested, "a/b/c");
    ASSERT(make_dirs(nested) == 0 && make_dirs(nested) == 0); /* idempotent */
    char f[600];
    snprintf(f, sizeof f, "%s/x", nested);
    ASSERT(file_write_atomic(f, "", 0) == 0 && file_exists(f) && file_holds(f, ""));
    snprintf(f, sizeof f, "%s/x/y", nested); /* under a regular file */
    ASSERT(make_dirs(f) < 0);
    ASSERT_STR_CONTAINS(error_message(), "cannot create");
}
