#include "core/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

char *file_read_all(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        error_set("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(fp, 0, SEEK_END) != 0) goto fail;
    long n = ftell(fp);
    if (n < 0 || fseek(fp, 0, SEEK_SET) != 0) goto fail;
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        fclose(fp);
        error_set("%s: out of memory for %ld bytes", path, n);
        return NULL;
    }
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        goto fail;
    }
    fclose(fp);
    buf[n] = '\0';
    if (size) *size = (size_t)n;
    return buf;
fail:
    error_set("%s: read failed: %s", path, strerror(errno));
    fclose(fp);
    return NULL;
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

void atomic_abort(AtomicFile *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    unlink(f->tmp_path);
}

int file_write_atomic(const char *path, const void *data, size_t size) {
    AtomicFile f;
    if (atomic_open(&f, path) < 0) return -1;
    if (size && fwrite(data, 1, size, f.fp) != size) {
        atomic_abort(&f);
        return error_set("%s: write failed", path);
    }
    return atomic_commit(&f);
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
