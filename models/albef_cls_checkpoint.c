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

/* Tensors of the file under a module prefix. */
static int count_under(const SafetensorsFile *f, const char *prefix) {
    int n = 0;
    for (int k = 0; k < f->count; k++) n += !strncmp(f->tensors[k].name, prefix, strlen(prefix));
    return n;
}

static int load_head(ParamSet *ps, const char *path, const char *head) {
    ParamsLoadOptions opt = params_load_defaults(); /* strict within the module: extras and gaps are named */
    opt.file_prefix = head;
    opt.param_prefix = head;
    return params_load(ps, path, opt, NULL);
}

/* Momentum twins of the online parameters under `online_head` take their values. */
static void copy_head_to_momentum(AlbefCls *m, const char *online_head) {
    for (int k = 0; k < m->params.count; k++)
        if (!strncmp(m->params.items[k]->name, online_head, strlen(online_head)))
            memcpy(tensor_f32(m->momentum.items[k]), tensor_f32(m->params.items[k]),
                   (size_t)tensor_numel(m->params.items[k]) * sizeof(float));
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
    int has_online[3], has_momentum[3];
    for (int h = 0; h < 3; h++) {
        has_online[h] = count_under(&f, ONLINE_HEADS[h]) > 0;
        has_momentum[h] = count_under(&f, MOMENTUM_HEADS[h]) > 0;
    }
    safetensors_close(&f);
    for (int h = 0; h < 3 && rc == 0; h++) {
        /* A pretrained encoder checkpoint (ALBEF.pth, pretrain_model_nlvr.pth,
         * §5.1) has no cls_head: the head keeps its initialisation, as in LAVIS. */
        if (!has_online[h] && !strcmp(ONLINE_HEADS[h], "cls_head.")) {
            log_write(LOG_INFO, "%s: no cls_head; the classifier keeps its initialisation", path);
            continue;
        }
        rc = load_head(&m->params, path, ONLINE_HEADS[h]);
    }
    if (rc == 0 && m->cfg.momentum_distill)
        for (int h = 0; h < 3 && rc == 0; h++) {
            if (has_momentum[h]) {
                rc = load_head(&m->momentum, path, MOMENTUM_HEADS[h]);
            } else { /* §3.3: files without a momentum half start the teacher from the online weights */
                if (n_momentum == 0 && h == 0)
                    log_write(LOG_INFO, "%s: no momentum weights; copying the online model into them", path);
                copy_head_to_momentum(m, ONLINE_HEADS[h]);
            }
        }
    return rc;
}

/* The file tensor an encoder parameter starts from. NLVR2's fusion layers are
 * the retrieval model's, each duplicated into a pair (§3.3: pretrain_model_nlvr.pth
 * was made that way, old fusion layer k -> new layers 2k-f and 2k-f+1), so
 * new layer l reads old layer (l + f) / 2. */
static void source_name(const AlbefCls *m, int duplicate, const char *name, char *out, size_t size) {
    const char *layer = strstr(name, ".encoder.layer.");
    int l;
    if (duplicate && layer && sscanf(layer, ".encoder.layer.%d.", &l) == 1 &&
        l >= m->cfg.fusion_layer) {
        const char *rest = strchr(layer + strlen(".encoder.layer."), '.');
        snprintf(out, size, "%.*s.encoder.layer.%d%s", (int)(layer - name), name, (l + m->cfg.fusion_layer) / 2, rest);
    } else {
        snprintf(out, size, "%s", name);
    }
}

/* Fills every parameter of `ps` under the two encoder prefixes from the file.
 * NLVR2 duplicates the fusion layers only from a file that does not hold the
 * model's last text layer already (pretrain_model_nlvr.pth does: 18 layers). */
static int init_encoders(AlbefCls *m, ParamSet *ps, const SafetensorsFile *f, const char *suffix) {
    char last[128];
    snprintf(last, sizeof last, "text_encoder%s.encoder.layer.%d.output.dense.weight", suffix, m->cfg.text_layers - 1);
    int duplicate = m->task == ALBEF_TASK_NLVR2 && !safetensors_find(f, last);
    for (int k = 0; k < ps->count; k++) {
        Tensor *p = ps->items[k];
        char v[32], t[32], src[256];
        snprintf(v, sizeof v, "visual_encoder%s.", suffix);
        snprintf(t, sizeof t, "text_encoder%s.", suffix);
        if (strncmp(p->name, v, strlen(v)) && strncmp(p->name, t, strlen(t))) continue;
        source_name(m, duplicate, p->name, src, sizeof src);
        const StTensorInfo *info = safetensors_find(f, src);
        if (!info) return error_set("%s: no tensor %s for %s", f->path, src, p->name);
        if (info->numel != tensor_numel(p))
            return error_set("%s: %s has %lld elements, %s needs %lld", f->path, src, (long long)info->numel,
                             p->name, (long long)tensor_numel(p));
        if (safetensors_read_f32(f, info, tensor_f32(p), info->numel)) return -1;
    }
    return 0;
}

int albef_cls_init_from_albef(AlbefCls *m, const char *path) {
    SafetensorsFile f;
    if (safetensors_open(&f, path)) return -1;
    int rc = init_encoders(m, &m->params, &f, "");
    if (rc == 0 && m->cfg.momentum_distill) {
        if (count_under(&f, "visual_encoder_m.") > 0) {
            rc = init_encoders(m, &m->momentum, &f, "_m");
        } else {
            copy_head_to_momentum(m, "visual_encoder.");
            copy_head_to_momentum(m, "text_encoder.");
        }
    }
    safetensors_close(&f);
    return rc;
}
