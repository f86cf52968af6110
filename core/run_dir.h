/* Run directories that two runs cannot mix (DESIGN.md "Run directory").
 *
 * A run writes every file into "<out>.partial/" and renames it to <out> only
 * when it is complete, so <out> always holds one whole run: a failed or
 * killed run leaves the previous complete run as it was (and its own partial
 * folder, which the next run removes or, with resume, continues). While a run
 * lives it holds an exclusive lock on "<out>.lock", so a second writer of the
 * same <out> stops at once instead of interleaving files with the first.
 * Whether an existing complete run answers a request is decided by comparing
 * its config.json with the request's resolved configuration. */
#ifndef CORE_RUN_DIR_H
#define CORE_RUN_DIR_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct {
    char out[4096];     /* the final directory */
    char work[4200];    /* "<out>.partial": where the run writes */
    char lock[4200];    /* "<out>.lock" */
    int lock_fd;        /* held until commit or abort; -1 when none */
} RunDir;

/* Takes the lock (an error naming <out> when another process holds it) and
 * prepares the work folder: with keep_partial, an existing "<out>.partial" is
 * kept as it is (a resumed run); otherwise it is removed and created empty.
 * 0, or -1 with error_set. */
int run_dir_begin(RunDir *d, const char *out, int keep_partial);
/* "<work>/<name>" into buf. */
const char *run_dir_file(const RunDir *d, const char *name, char *buf, size_t size);
/* The run is complete: the work folder becomes <out> (a previous run there is
 * removed only after the new one is in place) and the lock is released. */
int run_dir_commit(RunDir *d);
/* Releases the lock and leaves the work folder for inspection or resume. */
void run_dir_release(RunDir *d);

/* 1 when "<dir>/config.json" exists and equals `config` (JSON equality), 0
 * when it is absent or differs, -1 with error_set when it cannot be read. */
int run_dir_config_matches(const char *dir, const cJSON *config);

/* rm -rf of a folder this module created (no symlinks followed). 0 or -1. */
int run_dir_remove_tree(const char *path);

#endif
