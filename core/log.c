#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/error.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int level_chosen;              /* set by log_set_level or after reading the environment */
static LogLevel current_level = LOG_INFO;
static FILE *console;                 /* NULL means stderr */
static FILE *mirror;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};

const char *log_level_name(LogLevel level) {
    CHECK(level >= LOG_ERROR && level <= LOG_DEBUG, "log level %d", (int)level);
    return level_names[level];
}

/* -1 without touching the error buffer: the implicit read on first use must
 * not overwrite a user error the program is about to print. */
static int level_lookup(const char *text, LogLevel *out) {
    for (int k = 0; k <= LOG_DEBUG; k++) {
        if (text && strcasecmp(text, level_names[k]) == 0) {
            *out = (LogLevel)k;
            return 0;
        }
    }
    return -1;
}

int log_parse_level(const char *text, LogLevel *out) {
    if (level_lookup(text, out) == 0) return 0;
    return error_set("log level \"%s\": expected one of error, warn, info, debug", text ? text : "(null)");
}

/* Caller holds log_lock. An unreadable MMU_LOG_LEVEL is reported once and
 * ignored rather than fatal: logging must never stop a run. */
static LogLevel level_locked(void) {
    if (!level_chosen) {
        level_chosen = 1;
        const char *env = getenv("MMU_LOG_LEVEL");
        if (env && *env && level_lookup(env, &current_level) < 0)
            fprintf(console ? console : stderr,
                    "warning: MMU_LOG_LEVEL=\"%s\" is not error|warn|info|debug; logging at %s\n", env,
                    level_names[current_level]);
    }
    return current_level;
}

int log_level_from_env(void) {
    pthread_mutex_lock(&log_lock);
    level_chosen = 1;
    const char *env = getenv("MMU_LOG_LEVEL");
    int bad = env && *env && level_lookup(env, &current_level) < 0;
    pthread_mutex_unlock(&log_lock);
    if (bad) return error_set("MMU_LOG_LEVEL=\"%s\": expected one of error, warn, info, debug", env);
    return 0;
}

void log_set_level(LogLevel level) {
    CHECK(level >= LOG_ERROR && level <= LOG_DEBUG, "log level %d", (int)level);
    pthread_mutex_lock(&log_lock);
    current_level = level;
    level_chosen = 1;
    pthread_mutex_unlock(&log_lock);
}

LogLevel log_get_level(void) {
    pthread_mutex_lock(&log_lock);
    LogLevel level = level_locked();
    pthread_mutex_unlock(&log_lock);
    return level;
}

void log_set_console(FILE *stream) {
    pthread_mutex_lock(&log_lock);
    console = stream;
    pthread_mutex_unlock(&log_lock);
}

int log_open_file(const char *path) {
    FILE *fp = fopen(path, "a");
    if (!fp) return error_set("%s: cannot open log file: %s", path, strerror(errno));
    pthread_mutex_lock(&log_lock);
    FILE *old = mirror;
    mirror = fp;
    pthread_mutex_unlock(&log_lock);
    if (old) fclose(old);
    return 0;
}

void log_close_file(void) {
    pthread_mutex_lock(&log_lock);
    FILE *old = mirror;
    mirror = NULL;
    pthread_mutex_unlock(&log_lock);
    if (old) fclose(old);
}

void log_write(LogLevel level, const char *fmt, ...) {
    CHECK(level >= LOG_ERROR && level <= LOG_DEBUG, "log level %d", (int)level);
    /* Format outside the lock; only the writes are serialised. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    localtime_r(&now.tv_sec, &tm);
    char line[4096];
    size_t n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03d %s ", (int)(now.tv_nsec / 1000000), level_tags[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_lock);
    if (level <= level_locked()) {
        FILE *out = console ? console : stderr;
        fputs(line, out);
        fputc('\n', out);
        fflush(out);
        if (mirror) {
            fputs(line, mirror);
            fputc('\n', mirror);
            fflush(mirror); /* a crash must not lose the lines before it */
        }
    }
    pthread_mutex_unlock(&log_lock);
}
