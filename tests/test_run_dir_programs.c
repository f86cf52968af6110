/* Run directories of the real programs (programs/run_driver.h, core/run_dir.h):
 * a rerun with the same configuration does nothing, a rerun that fails after
 * writing its config leaves the previous complete run whole, a second writer
 * of the same --out is locked out, and a completed rerun replaces the old
 * run entirely. bin/unlearn_finetune on the tiny test world, from a given
 * random original (no training of one), one epoch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/run_dir.h"
#include "models/albef.h"
#include "tests/eval_world.h"
#include "tests/test.h"

/* seed of <dir>/config.json's flags, -1 when unreadable */
static int config_seed(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *c = file_exists(path) ? json_read_file(path) : NULL;
    const cJSON *s = c ? cJSON_GetObjectItem(cJSON_GetObjectItem(c, "flags"), "seed") : NULL;
    int seed = cJSON_IsNumber(s) ? s->valueint : -1;
    cJSON_Delete(c);
    return seed;
}

static int dir_has(const char *dir, const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return file_exists(path);
}

TEST(test_run_dir_programs_never_mix_two_runs) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char tool[600];
    snprintf(tool, sizeof tool, "%s/unlearn_finetune", bin);
    ASSERT_MSG(file_exists(tool), "%s not built", tool);
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    char vocab[700], ckpt[600], bad[600], out[600], partial[700], cmd[4096];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", eval_world_dir());
    test_tmp_path(ckpt, sizeof ckpt, "rd_original.safetensors");
    test_tmp_path(bad, sizeof bad, "rd_broken.safetensors");
    test_tmp_path(out, sizeof out, "rd_runs/finetune");
    snprintf(partial, sizeof partial, "%s.partial", out);
    ModelConfig c;
    ASSERT_MSG(model_config_load(&c, "models/configs/albef-tiny.json") == 0, "%s", error_message());
    ASSERT(model_config_use_vocab_file(&c, vocab) == 0);
    Albef m;
    albef_init(&m, &c, 3);
    ASSERT_MSG(albef_save(&m, ckpt) == 0, "%s", error_message());
    albef_free(&m);
    ASSERT(file_write_atomic(bad, "not a checkpoint", 16) == 0);

    const char *fmt = "%s --data %s --model albef-tiny --original %s --df-size 2 --epochs 1 --k-test 2 "
                      "--no-eval-original --out %s --seed %d 2>&1";
    int status;
    snprintf(cmd, sizeof cmd, fmt, tool, eval_world_dir(), ckpt, out, 1);
    char *log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 0, "first run: %s", log);
    free(log);
    ASSERT(config_seed(out) == 1 && dir_has(out, "metrics.json") && dir_has(out, "model.safetensors"));
    ASSERT(!file_exists(partial));

    /* the same request again: nothing to do, nothing rewritten */
    struct stat before, after;
    char metrics[700];
    snprintf(metrics, sizeof metrics, "%s/metrics.json", out);
    ASSERT(stat(metrics, &before) == 0);
    log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 0, "%s", log);
    ASSERT_STR_CONTAINS(log, "holds a complete run with this exact configuration");
    free(log);
    ASSERT(stat(metrics, &after) == 0 && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec &&
           after.st_mtim.tv_sec == before.st_mtim.tv_sec);

    /* another seed that dies after writing its config (an unreadable original):
     * the first run stays whole beside the dead one's partial folder */
    snprintf(cmd, sizeof cmd, fmt, tool, eval_world_dir(), bad, out, 2);
    log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 1, "status %d: %s", status, log);
    free(log);
    ASSERT_EQ_INT(config_seed(out), 1);
    ASSERT(dir_has(out, "metrics.json"));
    ASSERT_EQ_INT(config_seed(partial), 2);
    /* --resume continues only the same configuration: here --original differs */
    snprintf(cmd, sizeof cmd, fmt, tool, eval_world_dir(), ckpt, out, 2);
    strcat(cmd, " --resume");
    log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 1, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "--resume: ");
    ASSERT_STR_CONTAINS(log, "holds an interrupted run with another configuration");
    free(log);
    ASSERT_EQ_INT(config_seed(partial), 2);

    /* a second writer of the same --out is refused while the first holds it */
    RunDir holder;
    ASSERT_MSG(run_dir_begin(&holder, out, 1) == 0, "%s", error_message());
    snprintf(cmd, sizeof cmd, fmt, tool, eval_world_dir(), ckpt, out, 2);
    log = test_run_command(cmd, &status);
    run_dir_release(&holder);
    ASSERT_MSG(status == 1, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "another run is writing this directory");
    free(log);
    ASSERT_EQ_INT(config_seed(out), 1);

    /* completed, the new run replaces the old one as a whole */
    log = test_run_command(cmd, &status);
    ASSERT_MSG(status == 0, "%s", log);
    free(log);
    ASSERT_EQ_INT(config_seed(out), 2);
    ASSERT(dir_has(out, "metrics.json") && !file_exists(partial));

    /* evaluate: an empty or repeated list item is refused (it dropped a row,
     * or wrote an empty table over earlier results, exiting 0) */
    const struct {
        const char *ckpts, *names, *expect;
    } bad_lists[] = {
        {"", NULL, "--checkpoints \"\": item 1 is empty"},
        {"%s,", NULL, "item 2 is empty"},
        {"%s,%s", "a,a", "--names \"a,a\": \"a\" is listed twice (items 1 and 2)"},
        {"%s,%s", "a", "--names: 1 names for 2 checkpoints"},
    };
    char evaluate[600], eval_out[600], list[1300];
    snprintf(evaluate, sizeof evaluate, "%s/evaluate", bin);
    test_tmp_path(eval_out, sizeof eval_out, "rd_runs/evaluate");
    for (size_t k = 0; k < sizeof bad_lists / sizeof bad_lists[0]; k++) {
        snprintf(list, sizeof list, bad_lists[k].ckpts, ckpt, ckpt);
        int n = snprintf(cmd, sizeof cmd, "%s --data %s --model albef-tiny --df-size 2 --out %s --checkpoints '%s'",
                         evaluate, eval_world_dir(), eval_out, list);
        if (bad_lists[k].names) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --names %s", bad_lists[k].names);
        snprintf(cmd + n, sizeof cmd - (size_t)n, " 2>&1");
        log = test_run_command(cmd, &status);
        ASSERT_MSG(status == 1, "%s: status %d: %s", list, status, log);
        ASSERT_STR_CONTAINS(log, bad_lists[k].expect);
        free(log);
        ASSERT(!dir_has(eval_out, "metrics.json"));
    }
}
