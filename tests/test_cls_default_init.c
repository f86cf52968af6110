/* The default initialisation of the classification tasks on the synthetic
 * world (programs/run_default_init.h): without --data and --init, bin/train
 * --task snli_ve starts from the world's retrieval original, trained once and
 * cached, exactly as --init naming that file would (the same model, bit for
 * bit); with --data and no --init it starts at random and config.json says so.
 * And bin/probe runs --task snli_ve and nlvr2 (Task.sides' features, the
 * task's own labels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/synth_image_text.h"
#include "tests/test.h"

static cJSON *read_json(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    char *text = file_read_all(path, &n);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

static const char *config_init(const char *run, char *buf, size_t size) {
    cJSON *c = read_json(run, "config.json");
    const cJSON *init = c ? cJSON_GetObjectItem(c, "init") : NULL;
    snprintf(buf, size, "%s", cJSON_IsString(init) ? init->valuestring : "");
    cJSON_Delete(c);
    return buf;
}

static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

/* A tiny world at <dir>/runs/synth-<default world>, where the programs run in
 * <dir> look for the default data: the retrieval original's recipe is then
 * a few steps. */
static void tiny_default_world(char *dir, size_t size, char *world, size_t wsize) {
    test_tmp_path(dir, size, "cls_default_init");
    snprintf(world, wsize, "%s/runs/synth-%s", dir, SYNTH_WORLD_DEFAULT);
    SynthImageTextOptions o = synth_image_text_defaults();
    o.train_images = 12;
    o.val_images = 4;
    o.test_images = 4;
    o.image_size = 32;
    o.vocab_size = 300;
    o.nlvr_pairs_percent = 200; /* 48 NLVR2 training items: more than one batch */
    ASSERT_MSG(synth_image_text_write(&o, world) == 0, "%s", error_message());
}

static const char *bin_dir(char *buf, size_t size) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    if (bin[0] == '/') snprintf(buf, size, "%s", bin);
    else if (!getcwd(buf, size) || strlen(buf) + strlen(bin) + 2 > size) snprintf(buf, size, "%s", bin);
    else snprintf(buf + strlen(buf), size - strlen(buf), "/%s", bin);
    return buf;
}

TEST(test_cls_default_init_is_the_world_retrieval_original_and_probe_runs_cls) {
    char dir[512], world[700], bin[1024], cmd[8192], init[1400], path[2048], other[2048];
    tiny_default_world(dir, sizeof dir, world, sizeof world);
    bin_dir(bin, sizeof bin);
    const char *common = "--task snli_ve --epochs 1 --df-size 2";
    /* No --data, no --init: the retrieval original, trained here and cached under <dir>/runs/cache. */
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/train %s --out ve_default > ve_default.log 2>&1", dir, bin,
             common);
    ASSERT_MSG(system(cmd) == 0, "%s failed (see %s/ve_default.log)", cmd, dir);
    snprintf(path, sizeof path, "%s/ve_default", dir);
    config_init(path, init, sizeof init);
    const char *prefix = "pretrained: the world's retrieval original ";
    ASSERT_MSG(strncmp(init, prefix, strlen(prefix)) == 0, "init \"%s\"", init);
    const char *cache = init + strlen(prefix);
    ASSERT_MSG(strncmp(cache, "runs/cache/original-albef-tiny-", 31) == 0, "init file %s", cache);
    snprintf(other, sizeof other, "%s/%s", dir, cache);
    ASSERT_MSG(file_exists(other), "%s was not cached", other);
    cJSON *c = read_json(path, "config.json");
    ASSERT(c && cJSON_GetObjectItem(cJSON_GetObjectItem(c, "inputs"), "init") != NULL); /* in the run's identity */
    cJSON_Delete(c);

    /* The same run with that file as --init: the same model, bit for bit. */
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/train %s --init %s --out ve_given > ve_given.log 2>&1",
             dir, bin, common, cache);
    ASSERT_MSG(system(cmd) == 0, "%s failed", cmd);
    snprintf(path, sizeof path, "%s/ve_default/model.safetensors", dir);
    snprintf(other, sizeof other, "%s/ve_given/model.safetensors", dir);
    ASSERT_MSG(same_bytes(path, other), "%s and %s differ", path, other);

    /* --data and no --init: random, and the report says it plainly. */
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/train %s --data %s --out ve_data > ve_data.log 2>&1", dir,
             bin, common, world);
    ASSERT_MSG(system(cmd) == 0, "%s failed", cmd);
    snprintf(path, sizeof path, "%s/ve_data", dir);
    config_init(path, init, sizeof init);
    ASSERT_MSG(strncmp(init, "random (seed 42): no --init was given for the user's data", 57) == 0, "init \"%s\"", init);
    snprintf(path, sizeof path, "%s/ve_data/model.safetensors", dir);
    ASSERT(!same_bytes(path, other));

    /* bin/probe on both classification tasks: a checkpoint equal to the original scores as the original. */
    const char *tasks[2] = {"snli_ve", "nlvr2"};
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/train --task nlvr2 --epochs 1 --df-size 2 --data %s "
                     "--out nlvr_data > nlvr_data.log 2>&1", dir, bin, world);
            ASSERT_MSG(system(cmd) == 0, "%s failed", cmd);
        }
        const char *model = k == 0 ? "ve_data/model.safetensors" : "nlvr_data/model.safetensors";
        snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/probe --task %s --data %s --df-size 2 --original %s "
                 "--checkpoints %s --names same --out probe_%s > probe_%s.log 2>&1", dir, bin, tasks[k], world, model,
                 model, tasks[k], tasks[k]);
        ASSERT_MSG(system(cmd) == 0, "%s failed (see %s/probe_%s.log)", cmd, dir, tasks[k]);
        snprintf(path, sizeof path, "%s/probe_%s", dir, tasks[k]);
        cJSON *p = read_json(path, "probe.json");
        ASSERT(p != NULL);
        const cJSON *o = cJSON_GetObjectItem(p, "original"), *s = cJSON_GetObjectItem(p, "same");
        ASSERT(o && s);
        const char *cols[4] = {"image_test", "text_test", "image_df", "text_df"};
        for (int j = 0; j < 4; j++) {
            double a = cJSON_GetObjectItem(o, cols[j])->valuedouble, b = cJSON_GetObjectItem(s, cols[j])->valuedouble;
            ASSERT_MSG(a == b && a >= 0 && a <= 100, "%s %s: original %g, same checkpoint %g", tasks[k], cols[j], a, b);
        }
        cJSON_Delete(p);
    }
}
