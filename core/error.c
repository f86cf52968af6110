#include "core/error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char error_buffer[2048];
static const char *job_origin;
static void (*job_stop)(int status);

void error_set_job(const char *origin, void (*stop)(int status)) {
    job_origin = origin;
    job_stop = stop;
}

/* "error: " or "error: rank 1 of 2: " */
static void print_error_head(void) {
    fprintf(stderr, "error: ");
    if (job_origin) fprintf(stderr, "%s: ", job_origin);
}

__attribute__((noreturn)) static void stop(int status) {
    if (job_stop) job_stop(status);
    exit(status);
}

int error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_buffer, sizeof error_buffer, fmt, ap);
    va_end(ap);
    return -1;
}

int error_prefix(const char *fmt, ...) {
    char prefix[1024];
    char old[sizeof error_buffer];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_buffer, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof error_buffer - 3) n = sizeof error_buffer - 3;
    memcpy(error_buffer, prefix, n);
    memcpy(error_buffer + n, ": ", 2);
    size_t room = sizeof error_buffer - n - 3;
    size_t m = strlen(old);
    if (m > room) m = room;
    memcpy(error_buffer + n + 2, old, m);
    error_buffer[n + 2 + m] = '\0';
    return -1;
}

const char *error_message(void) { return error_buffer; }

void error_clear(void) { error_buffer[0] = '\0'; }

void error_exit_if(int status) {
    if (status >= 0) return;
    print_error_head();
    fprintf(stderr, "%s\n", error_buffer);
    stop(1);
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error_head();
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    stop(1);
}
