/* Runs every registered test in registration order, each in its own fresh
 * step (tape cleared, activation arena reset), and prints "N passed, N failed".
 * Usage: run_tests [substring]  (only tests whose name contains it).
 * MMU_TEST_EXCLUDE="a b ..." leaves out the tests whose name contains any of
 * the space-separated substrings (the sanitizer run of `make test` leaves out
 * the longest trainings, whose code the shorter tests already run). */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "tests/test.h"

typedef struct {
    const char *name, *file;
    TestFn fn;
} TestCase;

static TestCase cases[1024];
static int n_cases;
static int current_failed;
static int current_skipped;
static char tmp_dir[256];

void test_register(const char *name, const char *file, TestFn fn) {
    if (n_cases < (int)(sizeof cases / sizeof cases[0])) cases[n_cases++] = (TestCase){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    current_failed = 1;
}

void test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  skipped: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    current_skipped = 1;
}

long long test_close_array(const float *a, const float *b, long long n, double atol, double rtol) {
    long long worst = -1;
    double worst_ratio = 1.0;
    for (long long k = 0; k < n; k++) {
        double d = fabs((double)a[k] - (double)b[k]);
        double ratio = d / (atol + rtol * fabs((double)b[k]));
        if (!(ratio <= worst_ratio)) { /* also catches NaN */
            worst_ratio = isnan(ratio) ? INFINITY : ratio;
            worst = k;
        }
    }
    return worst;
}

const char *test_fixture_dir(void) { return "tests/fixtures"; }

const char *test_tmp_dir(void) {
    if (!tmp_dir[0]) {
        snprintf(tmp_dir, sizeof tmp_dir, "/tmp/mmu_tests_%d", (int)getpid());
        mkdir(tmp_dir, 0755);
    }
    return tmp_dir;
}

char *test_tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", test_tmp_dir(), name);
    return buf;
}

/* 1 when `name` contains one of the space-separated words of `list`. */
static int excluded(const char *name, const char *list) {
    if (!list) return 0;
    while (*list) {
        while (*list == ' ') list++;
        size_t n = strcspn(list, " ");
        if (n > 0) {
            for (const char *p = name; *p; p++)
                if (strncmp(p, list, n) == 0) return 1;
        }
        list += n;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *exclude = getenv("MMU_TEST_EXCLUDE");
    int passed = 0, failed = 0, skipped = 0;
    struct timespec t0, t1;
    for (int k = 0; k < n_cases; k++) {
        if ((filter && !strstr(cases[k].name, filter)) || excluded(cases[k].name, exclude)) continue;
        current_failed = 0;
        current_skipped = 0;
        error_clear();
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cases[k].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        autograd_set_enabled(1);
        autograd_step_end();
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (current_failed) {
            failed++;
            printf("FAIL %s (%s)\n", cases[k].name, cases[k].file);
        } else if (current_skipped) {
            skipped++;
            printf("skip %s\n", cases[k].name);
        } else {
            passed++;
            printf("ok   %s (%.2fs)\n", cases[k].name, secs);
        }
        fflush(stdout);
    }
    if (tmp_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
