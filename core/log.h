/* Logging with levels and timestamps.
 *
 * Every line goes to the console (stderr unless redirected) and, once
 * log_open_file() was called, is mirrored into a file: programs keep the
 * whole run's log in runs/<name>/train.log (DESIGN.md "Run directory").
 * The level is read from the environment variable MMU_LOG_LEVEL
 * (error|warn|info|debug) on first use unless log_set_level() chose one.
 * Lines are written whole under a lock, so OpenMP threads never interleave. */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdio.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } LogLevel;

/* A line is written when its level is at most the current level. */
void log_set_level(LogLevel level);
LogLevel log_get_level(void);
/* "error", "warn", "info", "debug" (any case); 0, or -1 with error_set. */
int log_parse_level(const char *text, LogLevel *out);
const char *log_level_name(LogLevel level);
/* (Re)reads MMU_LOG_LEVEL: an unset or empty variable leaves the level as it
 * is; a bad value leaves it too and returns -1 with error_set. */
int log_level_from_env(void);

/* Where console lines go (stderr by default; tests pass a temporary file). */
void log_set_console(FILE *stream);
/* Mirrors every later line into `path` (appended, so a resumed run keeps its
 * history). 0, or -1 with error_set. A second call replaces the first file. */
int log_open_file(const char *path);
void log_close_file(void);

/* "2024-05-01 12:34:56.789 INFO  message\n" */
void log_write(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif
