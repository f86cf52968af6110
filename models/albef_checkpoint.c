/* ALBEF checkpoints: online + momentum parameters and the ITC queues in one
 * safetensors file with the LAVIS names (spec/albef_blip.md §8.1). */
#include <stdlib.h>
#include <string.h>

#include "autograd/params_io.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "models/albef.h"

/* Top-level modules of each parameter set; a file tensor must start with one. */
static const char *const ONLINE_HEADS[] = {"visual_encoder.", "text_encoder.", "vision_proj.", "text_proj.",
                                           "itm_head.", "temp", NULL};
static const char *const MOMENTUM_HEADS[] = {"visual_encoder_m.", "text_encoder_m.", "vision_proj_m.",
                                             "text_proj_m.", NULL};
static const char *const BUFFERS[] = {"image_queue", "text_queue", "idx_queue", "queue_ptr", NULL};

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Index of the head that `name` belongs to, or -1; "temp" must match exactly. */
static int head_of(const char *name, const char *const *heads) {
    for (int k = 0; heads[k]; k++) {
        size_t n = strlen(heads[k]);
        if (heads[k][n - 1] == '.' ? has_prefix(name, heads[k]) : !strcmp(name, heads[k])) return k;
    }
    return -1;
}

int albef_save(const Albef *m, const char *path) {
    int64_t E = m->cfg.embed_dim, Q = m->cfg.queue_size;
    int n = m->params.count + m->momentum.count + (Q > 0 ? 4 : 0);
    StWriteTensor *w = calloc((size_t)n, sizeof *w);
    CHECK(w != NULL, "out of memory");
    int k = 0;
    const ParamSet *sets[2] = {&m->params, &m->momentum};
    /* Device parameters are written from host copies of the value blocks. */
    float *host[2] = {NULL, NULL};
    for (int s = 0; s < 2; s++) {
        if (sets[s]->device == DEVICE_CPU) continue;
        host[s] = malloc((size_t)(sets[s]->total ? sets[s]->total : 1) * sizeof(float));
        CHECK(host[s] != NULL, "out of memory");
        device_copy(host[s], DEVICE_CPU, sets[s]->values, sets[s]->device, (size_t)sets[s]->total * sizeof(float));
    }
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->count; i++) {
            const Tensor *t = sets[s]->items[i];
            const void *data = host[s] ? (const void *)(host[s] + params_offset(sets[s], t)) : t->data;
            w[k++] = (StWriteTensor){t->name, ST_F32, t->ndim, t->shape, data};
        }
    int64_t queue_shape[2] = {E, Q}, idx_shape[2] = {1, Q}, ptr_shape[1] = {1};
    int64_t ptr = m->queue_ptr;
    /* The queues live with the parameters: host copies of device ones. */
    const float *queues[2] = {m->image_queue, m->text_queue};
    float *host_queues[2] = {NULL, NULL};
    if (Q > 0 && m->params.device != DEVICE_CPU)
        for (int q = 0; q < 2; q++) {
            host_queues[q] = malloc((size_t)(E * Q) * sizeof(float));
            CHECK(host_queues[q] != NULL, "out of memory");
            device_copy(host_queues[q], DEVICE_CPU, queues[q], m->params.device, (size_t)(E * Q) * sizeof(float));
            queues[q] = host_queues[q];
        }
    if (Q > 0) {
        w[k++] = (StWriteTensor){"image_queue", ST_F32, 2, queue_shape, queues[0]};
        w[k++] = (StWriteTensor){"text_queue", ST_F32, 2, queue_shape, queues[1]};
        w[k++] = (StWriteTensor){"idx_queue", ST_I64, 2, idx_shape, m->idx_queue};
        w[k++] = (StWriteTensor){"queue_ptr", ST_I64, 1, ptr_shape, &ptr};
    }
    cJSON *cfg = model_config_to_json(&m->cfg);
    char *cfg_text = cJSON_PrintUnformatted(cfg);
    StMetaEntry meta[2] = {{"format", "albef"}, {"config", cfg_text}};
    int rc = safetensors_write(path, w, k, meta, 2);
    free(cfg_text);
    cJSON_Delete(cfg);
    free(w);
    free(host[0]);
    free(host[1]);
    free(host_queues[0]);
    free(host_queues[1]);
    return rc;
}

/* Strict per-module loads, so extras inside a module are named too. */
static int load_heads(ParamSet *ps, const char *path, const char *const *heads) {
    for (int k = 0; heads[k]; k++) {
        ParamsLoadOptions opt = params_load_defaults();
        opt.file_prefix = heads[k];
        opt.param_prefix = heads[k];
        if (params_load(ps, path, opt, NULL)) return -1;
    }
    return 0;
}

static int read_buffer_f32(const SafetensorsFile *f, const char *name, int64_t rows, int64_t cols, float *dst) {
    const StTensorInfo *t = safetensors_find(f, name);
    if (!t) return 0;
    if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
        return error_set("%s: %s: wrong shape: expected [%lld, %lld]", f->path, name, (long long)rows,
                         (long long)cols);
    return safetensors_read_f32(f, t, dst, rows * cols);
}

/* A feature queue into the model's queue memory, through a host copy when it lives on a device. */
static int read_queue(Albef *m, const SafetensorsFile *f, const char *name, float *queue) {
    int64_t E = m->cfg.embed_dim, Q = m->cfg.queue_size;
    if (m->params.device == DEVICE_CPU) return read_buffer_f32(f, name, E, Q, queue);
    size_t bytes = (size_t)(E * Q) * sizeof(float);
    float *host = malloc(bytes);
    CHECK(host != NULL, "out of memory");
    device_copy(host, DEVICE_CPU, queue, m->params.device, bytes);
    int rc = read_buffer_f32(f, name, E, Q, host);
    if (rc == 0) device_copy(queue, m->params.device, host, DEVICE_CPU, bytes);
    free(host);
    return rc;
}

static int load_buffers(Albef *m, const SafetensorsFile *f) {
    int64_t Q = m->cfg.queue_size;
    if (read_queue(m, f, "image_queue", m->image_queue) || read_queue(m, f, "text_queue", m->text_queue)) return -1;
    const StTensorInfo *t = safetensors_find(f, "idx_queue");
    if (t) {
        if (t->numel != Q) return error_set("%s: idx_queue: expected %lld entries", f->path, (long long)Q);
        if (safetensors_read_i64(f, t, m->idx_queue, Q)) return -1;
    }
    t = safetensors_find(f, "queue_ptr");
    if (t) {
        int64_t ptr;
        if (t->numel != 1 || safetensors_read_i64(f, t, &ptr, 1)) return error_set("%s: queue_ptr: bad", f->path);
        if (ptr < 0 || ptr >= Q) return error_set("%s: queue_ptr %lld outside [0, %lld)", f->path, (long long)ptr,
                                                  (long long)Q);
        m->queue_ptr = ptr;
    }
    return 0;
}

int albef_load(Albef *m, const char *path) {
    SafetensorsFile f;
    if (safetensors_open(&f, path)) return -1;
    int rc = 0, n_momentum = 0;
    for (int k = 0; k < f.count && rc == 0; k++) {
        const char *name = f.tensors[k].name;
        if (head_of(name, ONLINE_HEADS) >= 0) continue;
        if (head_of(name, MOMENTUM_HEADS) >= 0 && m->cfg.momentum_distill) {
            n_momentum++;
            continue;
        }
        if (head_of(name, BUFFERS) >= 0 && m->cfg.queue_size > 0) continue;
        rc = error_set("%s: unexpected tensor %s: not a parameter or buffer of this ALBEF (%s)", path, name,
                       m->cfg.name);
    }
    if (rc == 0) rc = load_heads(&m->params, path, ONLINE_HEADS);
    if (rc == 0 && m->cfg.momentum_distill) {
        if (n_momentum > 0) {
            rc = load_heads(&m->momentum, path, MOMENTUM_HEADS);
        } else {
            log_write(LOG_INFO, "%s: no momentum weights; copying the online encoders into them", path);
            params_copy_to_twins(&m->momentum, &m->params);
        }
    }
    if (rc == 0 && m->cfg.queue_size > 0) rc = load_buffers(m, &f);
    safetensors_close(&f);
    return rc;
}
