/* One reporting path for errors.
 *
 * User errors (bad file, malformed JSON, unknown id, wrong shape) are returned,
 * not printed: a function that can fail on user input returns -1 (or NULL) after
 * calling error_set() with a message naming the file, the item and the reason.
 * Programs print it once with error_exit_if(); tests inspect error_message().
 *
 * Programming errors (a shape mismatch inside the engine, an impossible state)
 * abort at once through CHECK(), with the source location. */
#ifndef CORE_ERROR_H
#define CORE_ERROR_H

#include <stdio.h>
#include <stdlib.h>

/* Records the message of the latest user error (printf format). Always returns -1. */
int error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefixes the current message with more context ("loading x.safetensors: ..."). Returns -1. */
int error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *error_message(void);
void error_clear(void);
/* Prints "error: <message>" to stderr and exits with status 1 when status < 0. */
void error_exit_if(int status);
/* Prints "error: <message>" for a printf format and exits with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Set by comm_init() in a job of several ranks: every message then says which
 * rank stopped ("error: rank 1 of 2: ..."), and `stop` ends the whole job
 * (MPI_Abort) instead of leaving the other ranks waiting for this one. */
void error_set_job(const char *origin, void (*stop)(int status));

/* Internal invariant; aborts with location and message when it does not hold. */
#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,     \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
            abort();                                                             \
        }                                                                        \
    } while (0)

#endif
