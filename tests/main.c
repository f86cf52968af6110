/* Runs every registered test in registration order, each in its own fresh
 * step (tape cleared, activation arena reset), and prints "N passed, N failed".
 * Usage: run_tests [--each SECONDS] [substring]  (only tests whose name
 * contains it; --each runs every test in a process of its own with a time
 * limit, see run_case_isolated).
 * MMU_TEST_EXCLUDE="a b ..." leaves out the tests whose name contains any of
 * the space-separated substrings (the sanitizer run of `make test` leaves out
 * the longest trainings, whose code the shorter tests already run).
 * MMU_TEST_SHARD="k/n" runs only every n-th of the selected tests, from the
 * k-th (k < n): tests/run_shards.sh runs the n shards side by side. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "autograd/tape.h"
#include "core/cli.h"
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

int test_skip_if_arena_guarded(void) {
    if (!cli_env_switch("MMU_ARENA_GUARD")) return 0;
    test_skip("a test of the arena's shared chunks; MMU_ARENA_GUARD=1 gives every request its own allocation");
    return 1;
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

char *test_run_command(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *out = malloc(cap);
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

char *test_stderr_of_child(void (*fn)(void *ctx), void *ctx, int *status) {
    int fds[2];
    *status = -1;
    if (pipe(fds) != 0) return NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(ctx);
        _exit(0);
    }
    close(fds[1]);
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    ssize_t got;
    while ((got = read(fds[0], out + n, cap - n - 1)) > 0) {
        n += (size_t)got;
        if (n + 1 == cap) out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    return out;
}

/* MMU_TEST_SHARD "k/n" into *k and *n; 0/1 (everything) when unset. */
static void read_shard(int *k, int *n) {
    *k = 0;
    *n = 1;
    const char *s = getenv("MMU_TEST_SHARD");
    if (!s || !*s) return;
    if (sscanf(s, "%d/%d", k, n) != 2 || *n < 1 || *k < 0 || *k >= *n) {
        fprintf(stderr, "run_tests: MMU_TEST_SHARD=%s: want k/n with 0 <= k < n\n", s);
        exit(2);
    }
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

static void remove_tmp_dir(void) {
    if (!tmp_dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    tmp_dir[0] = '\0';
}

typedef enum { RESULT_PASSED, RESULT_FAILED, RESULT_SKIPPED } Result;

/* Runs case k in this process. */
static Result run_case(int k) {
    current_failed = 0;
    current_skipped = 0;
    error_clear();
    cases[k].fn();
    autograd_set_enabled(1);
    autograd_step_end();
    return current_failed ? RESULT_FAILED : current_skipped ? RESULT_SKIPPED : RESULT_PASSED;
}

/* --each: case k in a child process of its own, killed after `limit`
 * seconds. A test that stops its process (a fatal() error, a crash, a hang)
 * then fails alone, named, and the run goes on: on a GPU the first CUDA error
 * would otherwise end the whole suite. The parent never touches the device,
 * so each child starts its own CUDA context. */
#define EXIT_FAILED 3
#define EXIT_SKIPPED 4
static Result run_case_isolated(int k, int limit) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "  cannot fork for %s\n", cases[k].name);
        return RESULT_FAILED;
    }
    if (pid == 0) {
        alarm((unsigned)limit);
        Result r = run_case(k);
        remove_tmp_dir();
        exit(r == RESULT_PASSED ? 0 : r == RESULT_SKIPPED ? EXIT_SKIPPED : EXIT_FAILED);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "  waiting for %s: %s\n", cases[k].name, strerror(errno));
            return RESULT_FAILED;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return RESULT_PASSED;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIPPED) return RESULT_SKIPPED;
    if (WIFEXITED(status) && WEXITSTATUS(status) != EXIT_FAILED)
        printf("  the test stopped its process with exit status %d (an error above)\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        printf("  the test ran past its %d-second limit and was killed\n", limit);
    else if (WIFSIGNALED(status))
        printf("  the test's process died of signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
    return RESULT_FAILED;
}

int main(int argc, char **argv) {
    const char *filter = NULL;
    int each = 0, limit = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--each") == 0 && a + 1 < argc) {
            each = 1;
            limit = atoi(argv[++a]);
            if (limit <= 0) {
                fprintf(stderr, "run_tests: --each takes a time limit in seconds (got %s)\n", argv[a]);
                return 2;
            }
        } else if (filter == NULL && argv[a][0] != '-') {
            filter = argv[a];
        } else {
            fprintf(stderr, "usage: run_tests [--each SECONDS] [substring]\n");
            return 2;
        }
    }
    const char *exclude = getenv("MMU_TEST_EXCLUDE");
    int shard, shards, selected = 0;
    read_shard(&shard, &shards);
    int passed = 0, failed = 0, skipped = 0;
    struct timespec t0, t1;
    for (int k = 0; k < n_cases; k++) {
        if ((filter && !strstr(cases[k].name, filter)) || excluded(cases[k].name, exclude)) continue;
        if (selected++ % shards != shard) continue;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        Result r = each ? run_case_isolated(k, limit) : run_case(k);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (r == RESULT_FAILED) {
            failed++;
            printf("FAIL %s (%s)\n", cases[k].name, cases[k].file);
        } else if (r == RESULT_SKIPPED) {
            skipped++;
            printf("skip %s\n", cases[k].name);
        } else {
            passed++;
            printf("ok   %s (%.2fs)\n", cases[k].name, secs);
        }
        fflush(stdout);
    }
    remove_tmp_dir();
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
