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

/* "<dir>/<loop name>-epoch<k>.<what>.safetensors" (what: model, hooks) */
static void epoch_path(const LoopConfig *c, int64_t epochs_done, const char *what, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s-epoch%lld.%s.safetensors", c->checkpoint_dir, c->name, (long long)epochs_done, what);
}

/* The files of the state after epochs_done epochs, other than the loop state itself. */
static void remove_epoch_files(const LoopConfig *c, int64_t epochs_done) {
    char path[4400];
    epoch_path(c, epochs_done, "model", path, sizeof path);
    unlink(path);
    epoch_path(c, epochs_done, "hooks", path, sizeof path);
    unlink(path);
}

int loop_checkpoint_write(const LoopConfig *c, const AdamW *opt, const LoopPosition *p) {
    char path[4400], model[4400], hooks[4400];
    epoch_path(c, p->epochs_done, "model", model, sizeof model);
    if (c->task->model_save(c->task, c->model, model) < 0) return -1;
    epoch_path(c, p->epochs_done, "hooks", hooks, sizeof hooks);
    if (c->hooks.state_save && c->hooks.state_save(c->hooks.ctx, hooks) < 0)
        return error_prefix("%s: saving the hooks' state after epoch %lld", c->name, (long long)p->epochs_done);
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
    if (rc == 0 && p->epochs_done > 1) remove_epoch_files(c, p->epochs_done - 1); /* no longer named */
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
        epoch_path(c, pos[POS_EPOCHS], "model", model, sizeof model);
        rc = c->task->model_load(c->task, c->model, model);
    }
    if (rc == 0 && c->hooks.state_load) {
        epoch_path(c, pos[POS_EPOCHS], "hooks", model, sizeof model);
        rc = c->hooks.state_load(c->hooks.ctx, model);
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
        if (read_i64(&f, "position", pos, POS_COUNT) == 0) remove_epoch_files(c, pos[POS_EPOCHS]);
        safetensors_close(&f);
    }
    unlink(path);
}

/* data: a copy the file owns until the write */
static void state_add(LoopStateFile *f, const char *name, StDType dtype, int64_t n, void *data) {
    CHECK(f->n < LOOP_STATE_MAX_TENSORS, "loop state: more than %d tensors", LOOP_STATE_MAX_TENSORS);
    f->shapes[f->n] = n;
    f->owned[f->n] = data;
    f->t[f->n] = (StWriteTensor){name, dtype, 1, &f->shapes[f->n], data};
    f->n++;
}

void loop_state_add_doubles(LoopStateFile *f, const char *name, const double *v, int64_t n) {
    loop_state_add_i64(f, name, (const int64_t *)(const void *)v, n); /* the same 8 bytes each */
}

void loop_state_add_i64(LoopStateFile *f, const char *name, const int64_t *v, int64_t n) {
    int64_t *copy = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    memcpy(copy, v, (size_t)n * sizeof *v);
    state_add(f, name, ST_I64, n, copy);
}

void loop_state_add_floats(LoopStateFile *f, const char *name, const float *v, Device device, int64_t n) {
    float *host = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *host);
    device_copy(host, DEVICE_CPU, v, device, (size_t)n * sizeof *host);
    state_add(f, name, ST_F32, n, host);
}

int loop_state_write(LoopStateFile *f, const char *path) {
    int rc = safetensors_write(path, f->t, f->n, NULL, 0);
    for (int k = 0; k < f->n; k++) free(f->owned[k]);
    f->n = 0;
    return rc;
}

static const StTensorInfo *state_find(const SafetensorsFile *f, const char *name, StDType dtype, int64_t n) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t || t->dtype != dtype || t->numel != n) {
        error_set("%s: %s: missing, or not %lld %s values", f->path, name, (long long)n, st_dtype_name(dtype));
        return NULL;
    }
    return t;
}

int loop_state_read_i64(const SafetensorsFile *f, const char *name, int64_t *v, int64_t n) {
    const StTensorInfo *t = state_find(f, name, ST_I64, n);
    return t ? safetensors_read_i64(f, t, v, n) : -1;
}

int loop_state_read_doubles(const SafetensorsFile *f, const char *name, double *v, int64_t n) {
    int64_t *bits = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *bits);
    int rc = loop_state_read_i64(f, name, bits, n);
    if (rc == 0) memcpy(v, bits, (size_t)n * sizeof *v);
    free(bits);
    return rc;
}

int loop_state_read_floats(const SafetensorsFile *f, const char *name, float *dst, Device device, int64_t n) {
    const StTensorInfo *t = state_find(f, name, ST_F32, n);
    if (!t) return -1;
    float *host = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *host);
    int rc = safetensors_read_f32(f, t, host, n);
    if (rc == 0) device_copy(dst, device, host, DEVICE_CPU, (size_t)n * sizeof *host);
    free(host);
    return rc;
}
