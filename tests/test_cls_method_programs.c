/* The classification tasks through the method programs (programs/run_driver.h):
 * unlearn_ul, unlearn_lcodec (and -F) and unlearn_multidelete --ukr-text run
 * --task snli_ve end to end on a tiny world from a trained original, and
 * config.json records the task and the flags used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/fileio.h"
#include "data/synth_image_text.h"
#include "tests/test.h"

static cJSON *read_json(const char *dir, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    char *text = file_read_all(path, &n);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

TEST(test_ul_lcodec_and_ukr_text_programs_run_snli_ve) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char world[512], orig[512], run[512], cmd[4096];
    test_tmp_path(world, sizeof world, "cls_programs_world");
    SynthImageTextOptions o = synth_image_text_defaults();
    o.train_images = 12;
    o.val_images = 4;
    o.test_images = 4;
    o.image_size = 32;
    o.vocab_size = 300;
    ASSERT_MSG(synth_image_text_write(&o, world) == 0, "%s", error_message());
    test_tmp_path(orig, sizeof orig, "cls_programs_original");
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --task snli_ve --data %s --out %s --epochs 1 --df-size 2 "
             "> %s.log 2>&1", bin, world, orig, orig);
    ASSERT_MSG(system(cmd) == 0, "%s failed (see %s.log)", cmd, orig);
    const struct {
        const char *name, *program, *flags;
    } runs[] = {
        {"cls_ul", "unlearn_ul", "--epochs 2 --stop-accuracy 0"},
        {"cls_ul_f", "unlearn_ul", "--epochs 1 --stop-accuracy 0 --fusion-only"},
        {"cls_lcodec", "unlearn_lcodec", "--perturbations 4 --batch 8 --hessian-batches 1 --guard-pairs 8"},
        {"cls_lcodec_f", "unlearn_lcodec", "--perturbations 4 --batch 8 --hessian-batches 1 --fusion-only"},
        {"cls_md_text", "unlearn_multidelete", "--epochs 1 --no-select-epoch --batch-df 4 --ukr-text"},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        test_tmp_path(run, sizeof run, runs[k].name);
        snprintf(cmd, sizeof cmd, "cd %s/.. && OMP_NUM_THREADS=1 %s%s/%s --task snli_ve --data %s --original "
                 "%s/model.safetensors --df-size 2 --eval-original=false --eval-retrain off %s --out %s > %s.log 2>&1",
                 world, bin[0] == '/' ? "" : "$OLDPWD/", bin, runs[k].program, world, orig, runs[k].flags, run, run);
        ASSERT_MSG(system(cmd) == 0, "%s failed (see %s.log)", runs[k].program, run);
        cJSON *config = read_json(run, "config.json");
        ASSERT(config != NULL);
        const cJSON *flags = cJSON_GetObjectItem(config, "flags");
        ASSERT(strcmp(cJSON_GetObjectItem(flags, "task")->valuestring, "snli_ve") == 0);
        if (strstr(runs[k].flags, "--ukr-text")) ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(flags, "ukr-text")));
        if (strstr(runs[k].flags, "--fusion-only")) ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(flags, "fusion-only")));
        cJSON_Delete(config);
        cJSON *metrics = read_json(run, "metrics.json");
        ASSERT_MSG(metrics != NULL, "%s wrote no metrics.json", runs[k].program);
        cJSON_Delete(metrics);
        if (!strcmp(runs[k].program, "unlearn_lcodec")) {
            cJSON *l = read_json(run, "lcodec.json");
            ASSERT(l && cJSON_GetObjectItem(l, "batches")->valuedouble >= 1);
            cJSON_Delete(l);
        }
    }
}
