/* The data-parallel test binary: the same TEST() cases as tests/main.c
 * (tests/test.h), run on every rank of `mpirun -np N` (or alone), each
 * verdict agreed by all ranks (a case fails when it failed on any rank).
 * Rank 0 prints the cases and "N passed, N failed"; a failing rank prints
 * its own assertion, prefixed with its rank. tests/mpi/run.sh drives it.
 *
 * Usage: run_tests_mpi [substring]    the cases whose name contains it
 *        run_tests_mpi --die          rank 1 stops with an error before an all-reduce
 *        run_tests_mpi --hang         rank 1 sleeps past the timeout before an all-reduce */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/tape.h"
#include "core/comm.h"
#include "core/error.h"
#include "tests/test.h"

typedef struct {
    const char *name, *file;
    TestFn fn;
} TestCase;

static TestCase cases[128];
static int n_cases;
static int current_failed;
static char tmp_dir[256];

void test_register(const char *name, const char *file, TestFn fn) {
    if (n_cases < (int)(sizeof cases / sizeof cases[0])) cases[n_cases++] = (TestCase){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  rank %d of %d: %s:%d: ", comm_rank(), comm_size(), file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    current_failed = 1;
}

/* Nothing here may skip: a case runs on every rank or not at all. */
void test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  rank %d: a data-parallel case cannot skip: ", comm_rank());
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    current_failed = 1;
}

long long test_close_array(const float *a, const float *b, long long n, double atol, double rtol) {
    long long worst = -1;
    double worst_ratio = 1.0;
    for (long long k = 0; k < n; k++) {
        double ratio = fabs((double)a[k] - (double)b[k]) / (atol + rtol * fabs((double)b[k]));
        if (!(ratio <= worst_ratio)) {
            worst_ratio = isnan(ratio) ? INFINITY : ratio;
            worst = k;
        }
    }
    return worst;
}

const char *test_fixture_dir(void) { return "tests/fixtures"; }

const char *test_tmp_dir(void) {
    if (!tmp_dir[0]) {
        snprintf(tmp_dir, sizeof tmp_dir, "/tmp/mmu_tests_mpi_%d", (int)getpid());
        mkdir(tmp_dir, 0755);
    }
    return tmp_dir;
}

char *test_tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", test_tmp_dir(), name);
    return buf;
}

/* The failure path: rank 1 fails (stops, or hangs) while rank 0 is in an
 * all-reduce; tests/mpi/run.sh checks that the job ends within the timeout
 * and says which rank and why. */
static int run_failure(const char *mode) {
    float x[3] = {1, 2, 3};
    if (comm_rank() == 1 && strcmp(mode, "--die") == 0) fatal("stopping on purpose before the all-reduce (test)");
    if (comm_rank() == 1 && strcmp(mode, "--hang") == 0) sleep(120);
    comm_allreduce_f32(DEVICE_CPU, x, 3, COMM_SUM);
    printf("rank %d: the all-reduce completed, which it must not\n", comm_rank());
    return 0;
}

int main(int argc, char **argv) {
    error_exit_if(comm_init());
    if (argc > 1 && strncmp(argv[1], "--", 2) == 0) return run_failure(argv[1]);
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0, root = comm_is_root();
    if (root) printf("%d rank%s\n", comm_size(), comm_size() > 1 ? "s" : "");
    for (int k = 0; k < n_cases; k++) {
        if (filter && !strstr(cases[k].name, filter)) continue;
        current_failed = 0;
        error_clear();
        cases[k].fn();
        autograd_set_enabled(1);
        autograd_step_end();
        fflush(stderr);
        int64_t any = current_failed;
        comm_allreduce_i64(&any, 1, COMM_SUM);
        if (any) failed++;
        else passed++;
        if (root) printf("%s %s\n", any ? "FAIL" : "ok  ", cases[k].name);
        fflush(stdout);
    }
    if (tmp_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    }
    if (root) printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
