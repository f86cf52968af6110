/* A minimal test harness: TEST(name) { ... } registers a test at load time;
 * tests/main.c runs them all (or those whose name contains argv[1]) and ends
 * with the line "N passed, N failed". An assertion failure prints its location
 * and the values, marks the test failed and returns from it. */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*TestFn)(void);
void test_register(const char *name, const char *file, TestFn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Marks the current test skipped with a printed reason (a GPU test on a machine
 * without a GPU); the caller returns right after. A skip never counts as a pass. */
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Under MMU_ARENA_GUARD=1 every arena request is an allocation of its own
 * (core/arena.c): a test of the shared chunks' layout skips, saying so, and
 * returns 1. The sanitizer suite runs so (Makefile, test-san), and runs the
 * layout tests again without it. */
int test_skip_if_arena_guarded(void);
/* Directory of committed fixtures ("tests/fixtures") and a per-run scratch directory. */
const char *test_fixture_dir(void);
const char *test_tmp_dir(void);
/* Writes into buf the path "<tmp>/<name>". */
char *test_tmp_path(char *buf, size_t size, const char *name);
/* Runs fn(ctx) in a child process (a fork; the child then exits 0) and
 * returns what the child wrote to stderr, malloc'ed and NUL-terminated;
 * *status is its waitpid status. For checking what an error that stops the
 * process (fatal, CHECK) says, without stopping the suite. Host code only: a
 * forked child cannot use its parent's CUDA context. */
char *test_stderr_of_child(void (*fn)(void *ctx), void *ctx, int *status);
/* Runs a shell command (the program tests run the built binaries this way) and
 * returns everything it wrote to stdout, malloc'ed and NUL-terminated (NULL
 * when popen fails); *status is its exit code, -1 when a signal ended it. */
char *test_run_command(const char *cmd, int *status);

#define TEST(name)                                                                     \
    static void name(void);                                                            \
    __attribute__((constructor)) static void name##_register(void) {                   \
        test_register(#name, __FILE__, name);                                          \
    }                                                                                  \
    static void name(void)

#define ASSERT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            test_fail(__FILE__, __LINE__, "%s", #cond);                                \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define ASSERT_MSG(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                                            \
    do {                                                                               \
        long long a_ = (long long)(a), b_ = (long long)(b);                            \
        if (a_ != b_) {                                                                \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);   \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                         \
    do {                                                                               \
        double a_ = (double)(a), b_ = (double)(b);                                     \
        if (!(fabs(a_ - b_) <= (tol))) {                                               \
            test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, a_,\
                      b_, (double)(tol));                                              \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define ASSERT_STR_CONTAINS(haystack, needle)                                          \
    do {                                                                               \
        const char *h_ = (haystack), *n_ = (needle);                                   \
        if (!h_ || !strstr(h_, n_)) {                                                  \
            test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",            \
                      h_ ? h_ : "(null)", n_);                                         \
            return;                                                                    \
        }                                                                              \
    } while (0)

/* Largest |a[i] - b[i]| / (atol + rtol |b[i]|) > 1 fails, naming the element. */
#define ASSERT_CLOSE_ARRAY(a, b, n, atol, rtol)                                        \
    do {                                                                               \
        long long bad_ = test_close_array((a), (b), (long long)(n), (atol), (rtol));   \
        if (bad_ >= 0) {                                                               \
            test_fail(__FILE__, __LINE__, "%s[%lld] = %.9g vs %s = %.9g", #a, bad_,    \
                      (double)(a)[bad_], #b, (double)(b)[bad_]);                       \
            return;                                                                    \
        }                                                                              \
    } while (0)

/* Index of the worst element beyond tolerance, or -1 when all are close. */
long long test_close_array(const float *a, const float *b, long long n, double atol, double rtol);

#endif
