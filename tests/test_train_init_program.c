/* bin/train --init (programs/run_driver.h run_apply_init): a model trained
 * one step from another run's checkpoint stays within one warm-up step of it
 * (a random start from the run's own seed would be ~0.02 away), config.json
 * says which initialisation was used, and a checkpoint of another shape stops
 * the run with the file and the tensor named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/safetensors.h"
#include "tests/test.h"

/* The largest |a - b| over the F32 tensors of the two files' "text_encoder." and "visual_encoder." parameters. */
static double max_encoder_diff(const char *a, const char *b) {
    SafetensorsFile fa, fb;
    CHECK(safetensors_open(&fa, a) == 0 && safetensors_open(&fb, b) == 0, "%s", error_message());
    double d = 0.0;
    for (int k = 0; k < fa.count; k++) {
        const StTensorInfo *x = &fa.tensors[k], *y = safetensors_find(&fb, x->name);
        if (x->dtype != ST_F32 || (strncmp(x->name, "text_encoder.", 13) && strncmp(x->name, "visual_encoder.", 15)))
            continue;
        CHECK(y && y->numel == x->numel, "%s missing from %s", x->name, b);
        float *u = malloc((size_t)x->numel * sizeof *u), *v = malloc((size_t)x->numel * sizeof *v);
        CHECK(u && v && !safetensors_read_f32(&fa, x, u, x->numel) && !safetensors_read_f32(&fb, y, v, y->numel),
              "read %s", x->name);
        for (int64_t i = 0; i < x->numel; i++) d = fmax(d, fabs((double)u[i] - v[i]));
        free(u), free(v);
    }
    safetensors_close(&fa);
    safetensors_close(&fb);
    return d;
}

/* The programs run one thread each, as the test runner does. */
static int run(const char *cmd) { return system(cmd); }

TEST(test_train_program_starts_from_init_and_names_a_wrong_tensor) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char world[512], other[512], a[512], b[512], c[512], wrong[512], cmd[4096], path[1100];
    test_tmp_path(world, sizeof world, "init_world");
    test_tmp_path(other, sizeof other, "init_world_vocab");
    test_tmp_path(a, sizeof a, "init_a");
    test_tmp_path(b, sizeof b, "init_b");
    test_tmp_path(c, sizeof c, "init_c");
    test_tmp_path(wrong, sizeof wrong, "init_wrong");
    /* 7 images: 35 pairs, one batch of 32, one step */
    snprintf(cmd, sizeof cmd, "%s/mkdata --out %s --train-images 7 --val-images 2 --test-images 2 > /dev/null && "
             "%s/mkdata --out %s --train-images 7 --val-images 2 --test-images 2 --vocab-size 250 > /dev/null",
             bin, world, bin, other);
    ASSERT(run(cmd) == 0);
    const char *common = "--epochs 1 --df-size 1 --eval-original=false";
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --data %s --seed 1 --out %s %s > %s.log 2>&1", bin, world, a, common, a);
    ASSERT_MSG(run(cmd) == 0, "%s failed (see %s.log)", cmd, a);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --data %s --seed 2 --init %s/model.safetensors --out %s %s > %s.log 2>&1", bin,
             world, a, b, common, b);
    ASSERT_MSG(run(cmd) == 0, "%s failed (see %s.log)", cmd, b);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --data %s --seed 2 --out %s %s > %s.log 2>&1", bin, world, c, common, c);
    ASSERT_MSG(run(cmd) == 0, "%s failed (see %s.log)", cmd, c);
    char ma[600], mb[600], mc[600];
    snprintf(ma, sizeof ma, "%s/model.safetensors", a);
    snprintf(mb, sizeof mb, "%s/model.safetensors", b);
    snprintf(mc, sizeof mc, "%s/model.safetensors", c);
    double from_init = max_encoder_diff(ma, mb), from_seed = max_encoder_diff(ma, mc);
    printf("  max |B - A| %.3g (B from A), max |C - A| %.3g (C from seed 2)\n", from_init, from_seed);
    ASSERT_MSG(from_init < 1e-3, "train --init moved %.3g from its start in one step", from_init);
    ASSERT(from_seed > 1e-2);
    snprintf(path, sizeof path, "%s/config.json", b);
    size_t n;
    char *text = file_read_all(path, &n);
    ASSERT(text != NULL);
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    char want[700];
    snprintf(want, sizeof want, "pretrained weights %s", ma);
    ASSERT(cfg && strcmp(cJSON_GetObjectItem(cfg, "init")->valuestring, want) == 0);
    cJSON_Delete(cfg);

    /* a checkpoint of a model with another vocabulary: refused, naming the file and the tensor */
    char mo[600];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --data %s --out %s_o %s > %s_o.log 2>&1", bin, other, wrong, common, wrong);
    ASSERT_MSG(run(cmd) == 0, "%s failed", cmd);
    snprintf(mo, sizeof mo, "%s_o/model.safetensors", wrong);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/train --data %s --init %s --out %s %s > %s.log 2>&1", bin, world, mo, wrong, common,
             wrong);
    ASSERT(run(cmd) != 0);
    snprintf(path, sizeof path, "%s.log", wrong);
    text = file_read_all(path, &n);
    ASSERT(text != NULL);
    ASSERT_STR_CONTAINS(text, mo);
    ASSERT_STR_CONTAINS(text, "text_encoder.embeddings.word_embeddings.weight");
    free(text);
}
