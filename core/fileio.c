#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "core/xalloc.h"

/* Reads to the end instead of trusting ftell: a directory opens and "seeks"
 * on Linux (ftell then says LONG_MAX), and a pipe has no size at all. */
char *file_read_all(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        error_set("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || S_ISDIR(st.st_mode)) {
        error_set("%s: %s", path, S_ISDIR(st.st_mode) ? "is a directory, not a file" : strerror(errno));
        fclose(fp);
        return NULL;
    }
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            error_set("%s: out of memory for %zu bytes", path, cap);
            fclose(fp);
            return NULL;
        }
        n += fread(buf + n, 1, cap - 1 - n, fp);
        if (n < cap - 1) break;
        char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!grown) free(buf);
        buf = grown;
        cap *= 2;
    }
    if (ferror(fp)) {
        error_set("%s: read failed: %s", path, strerror(errno));
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    if (size) *size = n;
    return buf;
}

int atomic_open(AtomicFile *f, const char *path) {
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.%d", path, (int)getpid());
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp) return error_set("%s: cannot create: %s", f->tmp_path, strerror(errno));
    return 0;
}

int atomic_commit(AtomicFile *f) {
    int bad = fflush(f->fp) != 0 || ferror(f->fp);
    if (!bad) bad = fsync(fileno(f->fp)) != 0;
    bad |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (bad) {
        int e = errno;
        unlink(f->tmp_path);
        return error_set("%s: write failed: %s", f->path, strerror(e));
    }
    if (rename(f->tmp_path, f->path) != 0) {
        int e = errno;
        unlink(f->tmp_path);
        return error_set("%s: rename failed: %s", f->path, strerror(e));
    }
    return 0;
}

int atomic_fail(AtomicFile *f) {
    int e = errno;
    atomic_abort(f);
    return error_set("%s: write failed: %s", f->path, strerror(e ? e : EIO));
}

void atomic_abort(AtomicFile *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    unlink(f->tmp_path);
}

int file_write_atomic(const char *path, const void *data, size_t size) {
    AtomicFile f;
    if (atomic_open(&f, path) < 0) return -1;
    if (size && fwrite(data, 1, size, f.fp) != size) return atomic_fail(&f);
    return atomic_commit(&f);
}

int file_fnv1a(uint64_t *h, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return error_set("%s: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) *h = fnv1a_bytes(*h, buf, n);
    int bad = ferror(fp);
    fclose(fp);
    return bad ? error_set("%s: read failed", path) : 0;
}

static void checksum_text(uint64_t h, char text[32]) { snprintf(text, 32, "%016llx\n", (unsigned long long)h); }

int file_checksum_write(const char *path) {
    uint64_t h = FNV1A_INIT;
    if (file_fnv1a(&h, path) < 0) return -1;
    char sum_path[4200], text[32];
    snprintf(sum_path, sizeof sum_path, "%s.fnv1a", path);
    checksum_text(h, text);
    return file_write_atomic(sum_path, text, strlen(text));
}

int file_checksum_ok(const char *path) {
    char sum_path[4200], have[32];
    snprintf(sum_path, sizeof sum_path, "%s.fnv1a", path);
    if (!file_exists(sum_path)) return 0;
    size_t n;
    char *want = file_read_all(sum_path, &n);
    uint64_t h = FNV1A_INIT;
    int ok = want && file_fnv1a(&h, path) == 0;
    checksum_text(h, have);
    ok = ok && strcmp(want, have) == 0;
    free(want);
    return ok;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return error_set("%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return error_set("%s: cannot create: %s", buf, strerror(errno));
    return 0;
}

int file_lock(const char *path) {
    char lock[4200], dir[4200];
    snprintf(lock, sizeof lock, "%s.lock", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (make_dirs(dir) < 0) return -1;
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return error_set("%s: cannot create the lock file: %s", lock, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return fd;
    log_info("%s: another process is building it; waiting for it", path);
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(fd);
        return error_set("%s: cannot lock: %s", lock, strerror(e));
    }
    return fd;
}

void file_unlock(int fd) {
    if (fd >= 0) close(fd); /* closing the descriptor releases its flock */
}
