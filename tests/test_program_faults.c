/* Faults met by the real programs, end to end on the tiny test world, each
 * run in a scratch working directory (the original-model cache lives under
 * its runs/cache):
 * - a damaged original-model cache entry (bytes flipped inside its tensor
 *   data) fails its checksum and is trained again, not loaded and not fatal:
 *   the run ends as a run on a clean cache does;
 * - MultiDelete at --lr 1e30 diverges: with no earlier epoch to keep, the
 *   run stops with a message naming the non-finite value (the loss, or the
 *   features the model selection meets while scoring an epoch: that epoch is
 *   disqualified, no metric is computed over it) and writes no metric;
 * - two runs of one configuration started together build the original and
 *   Retrain once: the second waits on the cache entry's lock, then reuses it. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/fileio.h"
#include "models/albef.h"
#include "tests/eval_world.h"
#include "tests/test.h"

/* The programs' folder as an absolute path (the commands run elsewhere). */
static int bin_dir(char *out, size_t size) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char abs[PATH_MAX];
    if (!realpath(bin, abs)) return -1;
    snprintf(out, size, "%s", abs);
    return 0;
}

/* What a program test needs: the programs' directory, the tiny model's config (absolute, since the programs run
 * in a working directory of their own), the evaluation world, and that fresh working directory `name`. */
static int program_setup(char *bin, size_t bin_size, char *cfg, char *wd, size_t wd_size, const char *name) {
    if (bin_dir(bin, bin_size) != 0) return error_set("MMU_BIN: programs not built");
    if (realpath("models/configs/albef-tiny.json", cfg) == NULL)
        return error_set("models/configs/albef-tiny.json: not found (run from the repository root)");
    if (eval_world_dir() == NULL) return -1;
    test_tmp_path(wd, wd_size, name);
    return make_dirs(wd);
}

/* The one "original-*.safetensors" of <wd>/runs/cache into path; 0 when there is exactly one. */
static int find_cache_entry(const char *wd, char *path, size_t size) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/runs/cache", wd);
    DIR *d = opendir(dir);
    if (!d) return -1;
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "original-", 9) == 0 && n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0) {
            snprintf(path, size, "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    return found == 1 ? 0 : -1;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

TEST(test_program_rebuilds_a_damaged_original_cache_entry) {
    char bin[PATH_MAX], cfg[PATH_MAX], wd[600], entry[1400], saved[700], cmd[4 * PATH_MAX];
    ASSERT_MSG(program_setup(bin, sizeof bin, cfg, wd, sizeof wd, "cache_wd") == 0, "%s", error_message());
    const char *fmt = "cd %s && %s/unlearn_finetune --data %s --model %s --df-size 2 --epochs 1 --k-test 2 "
                      "--no-eval-original --out %s/%s 2>&1";
    int status;
    snprintf(cmd, sizeof cmd, fmt, wd, bin, eval_world_dir(), cfg, wd, "clean");
    char *log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 0, "first run: %s", log);
    ASSERT_STR_CONTAINS(log, "original model: training");
    free(log);
    ASSERT_MSG(find_cache_entry(wd, entry, sizeof entry) == 0, "no single original-model cache entry in %s", wd);
    test_tmp_path(saved, sizeof saved, "cache_wd_entry.safetensors");
    size_t n;
    char *bytes = file_read_all(entry, &n);
    ASSERT(bytes && n > 4096);
    ASSERT(file_write_atomic(saved, bytes, n) == 0);
    /* damage the tensor data (past the header): the file still parses as safetensors */
    for (size_t k = n / 2; k < n / 2 + 16; k++) bytes[k] ^= 0x5a;
    FILE *f = fopen(entry, "wb");
    ASSERT(f && fwrite(bytes, 1, n, f) == n);
    fclose(f);
    free(bytes);

    snprintf(cmd, sizeof cmd, fmt, wd, bin, eval_world_dir(), cfg, wd, "rebuilt");
    log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 0, "run over the damaged cache: %s", log);
    ASSERT_STR_CONTAINS(log, "does not match its checksum (damaged or unfinished): rebuilding it");
    ASSERT_STR_CONTAINS(log, "original model: training");
    free(log);
    ASSERT(same_file(entry, saved)); /* trained again, to the same bytes */
    ASSERT(file_checksum_ok(entry) == 1);
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/clean/model.safetensors", wd);
    snprintf(b, sizeof b, "%s/rebuilt/model.safetensors", wd);
    ASSERT(same_file(a, b)); /* and the unlearning started from the clean original */

    /* the rebuilt entry is then reused as is */
    snprintf(cmd, sizeof cmd, fmt, wd, bin, eval_world_dir(), cfg, wd, "reused");
    log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 0, "%s", log);
    ASSERT_STR_CONTAINS(log, "original model: cached");
    free(log);
}

static int dir_has(const char *dir, const char *name) {
    char path[800];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return file_exists(path);
}

TEST(test_program_multidelete_divergence_stops_naming_the_nonfinite_value) {
    char bin[PATH_MAX], ckpt[600], vocab[700], out[600], partial[700], cmd[2 * PATH_MAX];
    ASSERT_MSG(bin_dir(bin, sizeof bin) == 0, "MMU_BIN: programs not built");
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", eval_world_dir());
    test_tmp_path(ckpt, sizeof ckpt, "diverge_original.safetensors");
    ModelConfig c;
    ASSERT_MSG(model_config_load(&c, "models/configs/albef-tiny.json") == 0, "%s", error_message());
    ASSERT(model_config_use_vocab_file(&c, vocab) == 0);
    Albef m;
    albef_init(&m, &c, 3);
    ASSERT_MSG(albef_save(&m, ckpt) == 0, "%s", error_message());
    albef_free(&m);

    /* Df = 5 pairs, one step of 4 per epoch: the first update at lr 1e30
     * leaves huge (finite) weights, the next loss is NaN */
    const struct {
        const char *select, *expect;
    } cases[] = {
        /* selection from epoch 3 (the default): nothing was scored when the loss turned NaN */
        {"", "unlearn epoch 1 step 0: loss is "},
        /* selection from epoch 1: scoring epoch 1 meets non-finite features */
        {"--select-from 1", "features are not finite"},
    };
    for (int k = 0; k < 2; k++) {
        test_tmp_path(out, sizeof out, k == 0 ? "diverge_md_default" : "diverge_md_select1");
        snprintf(partial, sizeof partial, "%s.partial", out);
        snprintf(cmd, sizeof cmd,
                 "%s/unlearn_multidelete --data %s --model albef-tiny --original %s --df-size 1 --batch-df 4 "
                 "--epochs 3 --lr 1e30 --k-test 2 --no-eval-original %s --out %s 2>&1",
                 bin, eval_world_dir(), ckpt, cases[k].select, out);
        int status;
        char *log = test_run_command(cmd, &status);
        ASSERT_MSG(status == 1, "%s: status %d: %s", cases[k].select, status, log);
        ASSERT_STR_CONTAINS(log, cases[k].expect);
        ASSERT_STR_CONTAINS(log, "nan");
        ASSERT_STR_CONTAINS(log, "model selection holds no earlier epoch: no usable model");
        /* no candidate scored over NaN features (it once ranked "best so far" at Dt 50, AUC_code 100) */
        ASSERT_MSG(strstr(log, "best so far") == NULL, "%s", log);
        free(log);
        /* no metric was computed: none written, and no complete run in place */
        ASSERT(!file_exists(out));
        ASSERT(!dir_has(partial, "metrics.json") && !dir_has(partial, "scores_df.csv"));
        ASSERT(!dir_has(partial, "model.safetensors"));
    }
}

static int count(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Two runs of one configuration started together in one working directory: the first to lock a cache entry
 * (core/fileio.h file_lock) builds it while the other waits, then the other reuses it, so the original,
 * Retrain and UL's MLM head are each trained once. Without the lock both would train each (and race on the
 * entries' renames). */
TEST(test_program_concurrent_runs_build_each_cache_entry_once) {
    char bin[PATH_MAX], cfg[PATH_MAX], wd[600];
    ASSERT_MSG(program_setup(bin, sizeof bin, cfg, wd, sizeof wd, "cache_lock_wd") == 0, "%s", error_message());
    const char *run = "OMP_NUM_THREADS=1 %s/unlearn_ul --data %s --model %s --df-size 2 --epochs 1 --k-test 2 "
                      "--mlm-head-epochs 1 --stop-accuracy 0 --no-eval-original --out %s/%s";
    static char a[4 * PATH_MAX], b[4 * PATH_MAX], both[12 * PATH_MAX];
    snprintf(a, sizeof a, run, bin, eval_world_dir(), cfg, wd, "a");
    snprintf(b, sizeof b, run, bin, eval_world_dir(), cfg, wd, "b");
    snprintf(both, sizeof both, "cd %s && (%s > a.log 2>&1 & %s > b.log 2>&1 & wait) && cat a.log b.log", wd, a, b);
    int status;
    char *log = test_run_command(both, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "%s", log);
    ASSERT_MSG(count(log, "original model: training") == 1 && count(log, "original model: cached") == 1,
               "the original was not built once and reused once:\n%s", log);
    ASSERT_MSG(count(log, "Retrain: training") == 1 && count(log, "Retrain: cached") == 1,
               "Retrain was not built once and reused once:\n%s", log);
    ASSERT_MSG(count(log, "MLM head: the model has none") == 1 && count(log, "MLM head: cached") == 1,
               "UL's MLM head was not built once and reused once:\n%s", log);
    free(log);
}
