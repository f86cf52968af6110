#include "core/run_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int run_dir_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : error_set("%s: %s", path, strerror(errno));
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return error_set("%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int run_dir_begin(RunDir *d, const char *out, int keep_partial) {
    memset(d, 0, sizeof *d);
    d->lock_fd = -1;
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') n--; /* "runs/x/" and "runs/x" are one run */
    if (n == 0 || n >= sizeof d->out) return error_set("run directory \"%s\": empty or too long", out);
    memcpy(d->out, out, n);
    d->out[n] = '\0';
    snprintf(d->work, sizeof d->work, "%s.partial", d->out);
    snprintf(d->lock, sizeof d->lock, "%s.lock", d->out);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", d->out);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (make_dirs(parent) < 0) return -1;
    }
    d->lock_fd = open(d->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->lock_fd < 0) return error_set("%s: cannot create the lock file: %s", d->lock, strerror(errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t got = pread(d->lock_fd, holder, sizeof holder - 1, 0);
        holder[got > 0 ? got : 0] = '\0';
        close(d->lock_fd);
        d->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return error_set("%s: another run is writing this directory (pid %s); wait for it or choose another "
                             "--out", d->out, holder[0] ? holder : "unknown");
        return error_set("%s: cannot lock: %s", d->lock, strerror(e));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(d->lock_fd, 0) != 0 || pwrite(d->lock_fd, pid, (size_t)len, 0) != len) {
        run_dir_release(d);
        return error_set("%s: cannot write the lock file: %s", d->lock, strerror(errno));
    }
    struct stat st;
    int have_partial = stat(d->work, &st) == 0;
    if (have_partial && !keep_partial && run_dir_remove_tree(d->work) < 0) {
        run_dir_release(d);
        return -1;
    }
    if (make_dirs(d->work) < 0) {
        run_dir_release(d);
        return -1;
    }
    return 0;
}

const char *run_dir_file(const RunDir *d, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", d->work, name);
    return buf;
}

int run_dir_commit(RunDir *d) {
    CHECK(d->lock_fd >= 0, "run_dir_commit without run_dir_begin");
    char old[4300];
    snprintf(old, sizeof old, "%s.replaced", d->out);
    struct stat st;
    int had_old = stat(d->out, &st) == 0;
    if (run_dir_remove_tree(old) < 0) return -1;
    /* rename() cannot replace a non-empty folder: move the old run aside,
     * put the new one in place, then delete the old one. */
    if (had_old && rename(d->out, old) != 0)
        return error_set("%s: cannot move the previous run aside: %s", d->out, strerror(errno));
    if (rename(d->work, d->out) != 0) {
        int e = errno;
        if (had_old && rename(old, d->out) != 0) e = errno; /* put the old run back; report the later error */
        return error_set("%s: cannot rename the finished run into place: %s", d->out, strerror(e));
    }
    int rc = had_old ? run_dir_remove_tree(old) : 0;
    run_dir_release(d);
    return rc;
}

void run_dir_release(RunDir *d) {
    if (d->lock_fd < 0) return;
    flock(d->lock_fd, LOCK_UN);
    close(d->lock_fd);
    d->lock_fd = -1;
}

int run_dir_config_matches(const char *dir, const cJSON *config) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!file_exists(path)) return 0;
    cJSON *have = json_read_file(path);
    if (!have) return -1;
    int same = cJSON_Compare(have, config, 1) ? 1 : 0;
    cJSON_Delete(have);
    return same;
}
