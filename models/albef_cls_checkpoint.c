/* Checkpoints of ALBEF-VE / ALBEF-NLVR2: the online and momentum parameters in
 * one safetensors file under their LAVIS names (spec/albef_blip.md §8.1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params_io.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "models/albef_cls.h"

static const char *const ONLINE_HEADS[] = {"visual_encoder.", "text_encoder.", "cls_head.", NULL};
static const char *const MOMENTUM_HEADS[] = {"visual_encoder_m.", "text_encoder_m.", "cls_head_m.", NULL};

static int head_of(const char *name, const char *const *heads) {
    for (int k = 0; heads[k]; k++)
        if (!strncmp(name, heads[k], strlen(heads[k]))) return k;
    return -1;
}

int albef_cls_save(const AlbefCls *m, const char *path) {
    const ParamSet *sets[2] = {&m->params, &m->momentum};
    int n = m->params.count + m->momentum.count;
    StWriteTensor *w = calloc((size_t)(n ? n : 1), sizeof *w);
    float *host[2] = {NULL, NULL};
    CHECK(w != NULL, "out of memory");
    int k = 0;
    for (int s = 0; s < 2; s++) {
        if (!sets[s]->finalized) continue;
        if (sets[s]->device != DEVICE_CPU) { /* device parameters are written from host copies */
            host[s] = malloc((size_t)(sets[s]->total ? sets[s]->total : 1) * sizeof(float));
            CHECK(host[s] != NULL, "out of memory");
            device_copy(host[s], DEVICE_CPU, sets[s]->values, sets[s]->device,
                        (size_t)sets[s]->total * sizeof(float));
        }
        for (int i = 0; i < sets[s]->count; i++) {
            const Tensor *t = sets[s]->items[i];
            const void *data = host[s] ? (const void *)(host[s] + params_offset(sets[s], t)) : t->data;
            w[k++] = (StWriteTensor){t->name, ST_F32, t->ndim, t->shape, data};
        }
    }
    cJSON *cfg = model_config_to_json(&m->cfg);
    char *cfg_text = cJSON_PrintUnformatted(cfg);
    char task[16];
    snprintf(task, sizeof task, "%s", albef_cls_task_name(m->task));
    StMetaEntry meta[3] = {{"format", "albef_cls"}, {"task", task}, {"config", cfg_text}};
    int rc = safetensors_write(path, w, k, meta, 3);
    free(cfg_text);
    cJSON_Delete(cfg);
    free(w);
    free(host[0]);
    free(host[1]);
    return rc;
}

/* Strict per-module loads, so a missing or extra tensor inside a module is named. */
static int load_heads(ParamSet *ps, const char *path, const char *const *heads) {
    for (int k = 0; heads[k]; k++) {
        ParamsLoadOptions opt = params_load_defaults();
        opt.file_prefix = heads[k];
        opt.param_prefix = heads[k];
        if (params_load(ps, path, opt, NULL)) return -1;
    }
    return 0;
}

int albef_cls_load(AlbefCls *m, const char *path) {
    SafetensorsFile f;
    if (safetensors_open(&f, path)) return -1;
    int rc = 0, n_momentum = 0;
    for (int k = 0; k < f.count && rc == 0; k++) {
        const char *name = f.tensors[k].name;
        if (head_of(name, MOMENTUM_HEADS) >= 0 && m->cfg.momentum_distill) n_momentum++;
        else if (head_of(name, ONLINE_HEADS) < 0)
            rc = error_set("%s: unexpected tensor %s: not a parameter of this ALBEF %s (%s)", path, name,
                           albef_cls_task_name(m->task), m->cfg.name);
    }
    safetensors_close(&f);
    if (rc == 0) rc = load_heads(&m->params, path, ONLINE_HEADS);
    if (rc == 0 && m->cfg.momentum_distill) {
        if (n_momentum > 0) {
            rc = load_heads(&m->momentum, path, MOMENTUM_HEADS);
        } else { /* §3.3: pretrain_model_nlvr.pth and LAVIS fine-tuned files have no momentum half */
            log_write(LOG_INFO, "%s: no momentum weights; copying the online model into them", path);
            memcpy(m->momentum.values, m->params.values, (size_t)m->momentum.total * sizeof(float));
        }
    }
    return rc;
}
