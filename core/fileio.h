/* Whole-file reads and atomic writes (DESIGN.md: outputs are written to a
 * temporary file, then renamed, so a crash never leaves half a file). */
#ifndef CORE_FILEIO_H
#define CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads a whole file into a NUL-terminated malloc'ed buffer; NULL with
 * error_set("<path>: <reason>") on failure. *size may be NULL. */
char *file_read_all(const char *path, size_t *size);
/* Writes data to path atomically (path.tmp.<pid>, fsync, rename). 0 or -1. */
int file_write_atomic(const char *path, const void *data, size_t size);

/* Streaming atomic write: atomic_open() returns a FILE on a temporary name;
 * atomic_commit() flushes, syncs and renames it over `path`; atomic_abort()
 * deletes it. */
typedef struct {
    FILE *fp;
    char path[4096];
    char tmp_path[4112];
} AtomicFile;

int atomic_open(AtomicFile *f, const char *path);
int atomic_commit(AtomicFile *f);
void atomic_abort(AtomicFile *f);
/* After a failed write into f->fp: deletes the temporary file and returns -1
 * with error_set("<path>: write failed: <errno's reason>") (a full disk says so). */
int atomic_fail(AtomicFile *f);

int file_exists(const char *path);
/* Continues the FNV-1a hash *h (core/xalloc.h) over a file's bytes: the
 * checksum of files this project wrote itself (it detects corruption, not
 * tampering). 0, or -1 with error_set when it cannot be read. */
int file_fnv1a(uint64_t *h, const char *path);
/* A file's checksum kept beside it in "<path>.fnv1a" (written atomically after
 * the file): file_checksum_ok() is 1 only when both exist and agree, so a
 * damaged, truncated or unfinished file (a cache entry) is told apart. */
int file_checksum_write(const char *path);
int file_checksum_ok(const char *path);
/* An exclusive advisory lock (flock) on "<path>.lock", the directory made
 * first: the builder of a cache entry holds it from its check for the entry
 * until the entry is written, so a second process that needs the same entry
 * waits (saying so on stderr), then finds it built and reuses it instead of
 * building it again beside the first. The lock's file descriptor, or -1 with
 * error_set; the lock ends with file_unlock (or the process). */
int file_lock(const char *path);
void file_unlock(int fd);
/* mkdir -p. 0 or -1 with error_set. */
int make_dirs(const char *path);

#endif
