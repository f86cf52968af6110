#include "unlearn/loop_checkpoint.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/xalloc.h"

enum { POS_EPOCHS, POS_STEPS, POS_SIDE_POS, POS_SIDE_ROUND, POS_ADAM_STEP, POS_N_ITEMS, POS_N_PARAMS, POS_COUNT };

static void state_path(const LoopConfig *c, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s-loop.safetensors", c->checkpoint_dir, c->name);
}

static void model_path(const LoopConfig *c, int64_t epochs_done, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s-epoch%lld.model.safetensors", c->checkpoint_dir, c->name, (long long)epochs_done);
}

int loop_checkpoint_write(const LoopConfig *c, const AdamW *opt, const LoopPosition *p) {
    char path[4400], model[4400], older[4400];
    model_path(c, p->epochs_done, model, sizeof model);
    if (c->task->model_save(c->task, c->model, model) < 0) return -1;
    int64_t n = opt->params->total;
    float *m = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *m), *v = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    device_copy(m, DEVICE_CPU, opt->m, opt->device, (size_t)n * sizeof *m);
    device_copy(v, DEVICE_CPU, opt->v, opt->device, (size_t)n * sizeof *v);
    int64_t pos[POS_COUNT] = {p->epochs_done, p->steps, p->side_pos, p->side_round, opt->step, c->n_items, n};
    int64_t means[2];
    memcpy(&means[0], &p->first_mean, sizeof(double)); /* doubles kept bit for bit */
    memcpy(&means[1], &p->last_mean, sizeof(double));
    const int64_t s_n[1] = {n}, s_pos[1] = {POS_COUNT}, s_means[1] = {2}, s_side[1] = {p->n_side};
    StWriteTensor t[5] = {
        {"adamw.m", ST_F32, 1, s_n, m},         {"adamw.v", ST_F32, 1, s_n, v},
        {"position", ST_I64, 1, s_pos, pos},    {"means", ST_I64, 1, s_means, means},
        {"side_order", ST_I64, 1, s_side, p->side_order},
    };
    state_path(c, path, sizeof path);
    int rc = safetensors_write(path, t, p->n_side > 0 ? 5 : 4, NULL, 0);
    free(m);
    free(v);
    if (rc == 0 && p->epochs_done > 1) { /* the previous epoch's model is no longer named */
        model_path(c, p->epochs_done - 1, older, sizeof older);
        unlink(older);
    }
    return rc;
}

static int read_i64(const SafetensorsFile *f, const char *name, int64_t *out, int64_t count) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t || t->numel != count) return error_set("%s: %s: missing or of another size", f->path, name);
    return safetensors_read_i64(f, t, out, count);
}

int loop_checkpoint_read(const LoopConfig *c, AdamW *opt, LoopPosition *p) {
    char path[4400], model[4400];
    state_path(c, path, sizeof path);
    if (!file_exists(path)) return 0;
    SafetensorsFile f;
    if (safetensors_open(&f, path) < 0) return -1;
    int64_t pos[POS_COUNT], means[2], n = opt->params->total;
    int rc = read_i64(&f, "position", pos, POS_COUNT);
    if (rc == 0 && (pos[POS_N_ITEMS] != c->n_items || pos[POS_N_PARAMS] != n || pos[POS_EPOCHS] > c->epochs))
        rc = error_set("%s: the saved loop (%lld items, %lld parameters, %lld epochs done) is not this loop (%lld "
                       "items, %lld parameters, %d epochs)",
                       path, (long long)pos[POS_N_ITEMS], (long long)pos[POS_N_PARAMS], (long long)pos[POS_EPOCHS],
                       (long long)c->n_items, (long long)n, c->epochs);
    if (rc == 0) rc = read_i64(&f, "means", means, 2);
    if (rc == 0 && p->n_side > 0) rc = read_i64(&f, "side_order", p->side_order, p->n_side);
    float *m = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *m), *v = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    const StTensorInfo *tm = safetensors_find(&f, "adamw.m"), *tv = safetensors_find(&f, "adamw.v");
    if (rc == 0 && (!tm || !tv)) rc = error_set("%s: AdamW moments missing", path);
    if (rc == 0) rc = safetensors_read_f32(&f, tm, m, n);
    if (rc == 0) rc = safetensors_read_f32(&f, tv, v, n);
    safetensors_close(&f);
    if (rc == 0) {
        model_path(c, pos[POS_EPOCHS], model, sizeof model);
        rc = c->task->model_load(c->task, c->model, model);
    }
    if (rc == 0) {
        device_copy(opt->m, opt->device, m, DEVICE_CPU, (size_t)n * sizeof *m);
        device_copy(opt->v, opt->device, v, DEVICE_CPU, (size_t)n * sizeof *v);
        opt->step = pos[POS_ADAM_STEP];
        p->epochs_done = pos[POS_EPOCHS];
        p->steps = pos[POS_STEPS];
        p->side_pos = pos[POS_SIDE_POS];
        p->side_round = pos[POS_SIDE_ROUND];
        memcpy(&p->first_mean, &means[0], sizeof(double));
        memcpy(&p->last_mean, &means[1], sizeof(double));
        log_info("%s: resumed after epoch %lld (%lld steps) from %s", c->name, (long long)p->epochs_done,
                 (long long)p->steps, c->checkpoint_dir);
    }
    free(m);
    free(v);
    return rc < 0 ? error_prefix("resuming %s", c->name) : 1;
}

void loop_checkpoint_remove(const LoopConfig *c) {
    char path[4400];
    SafetensorsFile f;
    int64_t pos[POS_COUNT];
    state_path(c, path, sizeof path);
    if (safetensors_open(&f, path) == 0) {
        if (read_i64(&f, "position", pos, POS_COUNT) == 0) {
            char model[4400];
            model_path(c, pos[POS_EPOCHS], model, sizeof model);
            unlink(model);
        }
        safetensors_close(&f);
    }
    unlink(path);
}
