/* scripts/convert_albef_checkpoint.py on fake official checkpoints
 * (tests/make_fake_albef_checkpoints.py): an ALBEF.pth-shaped file converted
 * for SNLI-VE and a pretrain_model_nlvr.pth-shaped one for NLVR2 must load
 * into the C models with every tensor where LAVIS would put it (spec/albef_blip.md
 * §8.2): "bert." removed, pos_embed resized, retrieval heads / MLM head /
 * token types / ta_head dropped, the NLVR2 pair's shared key/value kept once,
 * the momentum half copied from the online weights when absent, and the new
 * cls_head left as initialised. Needs /usr/bin/python3 with torch (skips
 * otherwise). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "models/albef_cls.h"
#include "tests/test.h"

#define PYTHON "/usr/bin/python3"

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "    command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* Every tensor of `expected` equals the model's parameter of that name
 * (online or momentum), bit for bit. Returns how many were compared, or -1. */
static int compare_expected(const AlbefCls *m, const char *expected_path) {
    SafetensorsFile f;
    if (safetensors_open(&f, expected_path)) return -1;
    int n = 0;
    for (int k = 0; k < f.count; k++) {
        const StTensorInfo *t = &f.tensors[k];
        Tensor *p = params_find(&m->params, t->name);
        if (!p) p = params_find(&m->momentum, t->name);
        if (!p || tensor_numel(p) != t->numel) {
            error_set("%s: the model has no tensor %s of that size", expected_path, t->name);
            n = -1;
            break;
        }
        float *want = malloc((size_t)t->numel * sizeof *want);
        CHECK(want && safetensors_read_f32(&f, t, want, t->numel) == 0, "%s", error_message());
        int same = memcmp(want, tensor_f32(p), (size_t)t->numel * sizeof(float)) == 0;
        free(want);
        if (!same) {
            error_set("%s: %s differs after conversion", expected_path, t->name);
            n = -1;
            break;
        }
        n++;
    }
    safetensors_close(&f);
    return n;
}

/* The momentum copy of every online tensor whose name starts with `head`. */
static int momentum_equals_online(const AlbefCls *m, const char *head) {
    for (int k = 0; k < m->params.count; k++)
        if (!strncmp(m->params.items[k]->name, head, strlen(head)) &&
            memcmp(tensor_f32(m->params.items[k]), tensor_f32(m->momentum.items[k]),
                   (size_t)tensor_numel(m->params.items[k]) * sizeof(float)))
            return 0;
    return 1;
}

static int head_is_initial(const AlbefCls *m, const AlbefCls *fresh) {
    const char *names[4] = {"cls_head.0.weight", "cls_head.0.bias", "cls_head.2.weight", "cls_head.2.bias"};
    for (int k = 0; k < 4; k++) {
        const Tensor *a = params_find(&m->params, names[k]), *b = params_find(&fresh->params, names[k]);
        if (memcmp(tensor_f32(a), tensor_f32(b), (size_t)tensor_numel(a) * sizeof(float))) return 0;
    }
    return 1;
}

TEST(test_convert_official_ve_and_nlvr_checkpoints_loads_as_lavis_does) {
    if (system(PYTHON " -c 'import torch' 2>/dev/null") != 0) {
        test_skip("needs %s with torch (Debian python3-torch)", PYTHON);
        return;
    }
    char dir[512], cmd[4096], configs[600];
    test_tmp_path(dir, sizeof dir, "convert_cls");
    snprintf(configs, sizeof configs, "%s/../../models/configs", test_fixture_dir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && " PYTHON " %s/../make_fake_albef_checkpoints.py %s %s", dir,
             test_fixture_dir(), configs, dir);
    ASSERT(run(cmd) == 0);
    const char *tasks[2] = {"snli_ve", "nlvr2"}, *stems[2] = {"ve", "nlvr"};
    for (int t = 0; t < 2; t++) {
        snprintf(cmd, sizeof cmd,
                 PYTHON " %s/../../scripts/convert_albef_checkpoint.py %s/%s_src.pth %s/%s.safetensors "
                        "--config %s/albef-tiny-%s.json --task %s > %s/%s.log && grep -q '(0 missing, ' %s/%s.log",
                 test_fixture_dir(), dir, stems[t], dir, stems[t], configs, stems[t], tasks[t], dir, stems[t], dir, stems[t]);
        ASSERT(run(cmd) == 0);
        char path[1024];
        snprintf(path, sizeof path, "%s/albef-tiny-%s.json", configs, stems[t]);
        ModelConfig c;
        ASSERT_MSG(model_config_load(&c, path) == 0, "%s", error_message());
        AlbefClsTask task;
        ASSERT(albef_cls_task_parse(tasks[t], &task) == 0);
        AlbefCls m, fresh;
        albef_cls_init(&m, &c, task, 5);
        albef_cls_init(&fresh, &c, task, 5);
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, stems[t]);
        ASSERT_MSG(albef_cls_load(&m, path) == 0, "%s", error_message());
        snprintf(path, sizeof path, "%s/expected_%s.safetensors", dir, stems[t]);
        int n = compare_expected(&m, path);
        ASSERT_MSG(n > 100, "%s", error_message());
        ASSERT(head_is_initial(&m, &fresh));
        ASSERT(momentum_equals_online(&m, "cls_head."));
        if (task == ALBEF_TASK_NLVR2) /* no momentum half in pretrain_model_nlvr.pth */
            ASSERT(momentum_equals_online(&m, "visual_encoder.") && momentum_equals_online(&m, "text_encoder."));
        else /* ALBEF.pth's own momentum half was loaded */
            ASSERT(!momentum_equals_online(&m, "text_encoder."));
        albef_cls_free(&m);
        albef_cls_free(&fresh);
    }
    /* A pair whose two copies differ was not shared: the converter refuses it. */
    snprintf(cmd, sizeof cmd,
             PYTHON " -c \"import torch; d = torch.load('%s/nlvr_src.pth'); "
                    "d['model']['text_encoder.encoder.layer.2.crossattention.self.key.bias'] += 1; "
                    "torch.save(d, '%s/nlvr_bad.pth')\"",
             dir, dir);
    ASSERT(run(cmd) == 0);
    snprintf(cmd, sizeof cmd,
             PYTHON " %s/../../scripts/convert_albef_checkpoint.py %s/nlvr_bad.pth %s/bad.safetensors "
                    "--config %s/albef-tiny-nlvr.json --task nlvr2 > %s/bad.log 2>&1",
             test_fixture_dir(), dir, dir, configs, dir);
    ASSERT(system(cmd) != 0);
}
